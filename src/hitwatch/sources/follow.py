"""`--follow`: tail -F over files and shell globs, as a pollable state machine.

`Follower.poll()` reads whatever is new in every followed file and returns it
as blocks of whole lines, keyed by the name the file was found under. Nothing
here sleeps or looks at the wall clock except through the injected `clock`, so
tests drive it step by step.

What it survives, and how (a file's identity is its (st_dev, st_ino)):

- growth: read from where we stopped; a partial last line is kept back until
  its newline arrives.
- rename-and-create (logrotate's default): the old file is read to its end and
  kept open, still read, while it keeps growing (a server writes to it until
  it reopens its log); once it has been quiet for `retire_after` seconds it is
  closed. The new file at the path is read from its start.
- copytruncate: the size falls below what was read; reading restarts at 0.
- delete and recreate: like rename; the new file is read from its start.
- globs: re-checked every `rescan` seconds; a new match is read from its start,
  unless it is a file already being read under another name (a rotated file
  matching the same glob), which is never read twice.

Positions (SPEC §11, for `hitwatch serve`): `positions()` says, for every file
open or done with, its identity, a checksum of its first line and the offset
just past the last whole line handed out. A Follower made with `resume=` those
positions goes on from them: a file still at its name with the same first line
is read on from its offset; one rotated away while hitwatch was stopped, found
by its identity in the directory of its name with the same first line, is read
on from its offset to its end before anything else; a file at a name that
matches no position (replaced: another first line) is read from its start.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hitwatch.render import safe
from hitwatch.sources import LineCutter
from hitwatch.sources.positions import Position, first_line_checksum

READ_SIZE = 1 << 17
"""Bytes asked of the kernel per read."""

MAX_READ = 1 << 22
"""Bytes read from one file per poll, so that many files share a busy loop fairly."""

_GZIP_MAGIC = b"\x1f\x8b"


MAX_DONE = 1000
"""Files done with that `positions()` still lists (the most recent ones)."""

MAX_SCAN = 10_000
"""Directory entries looked at to find a rotated file by its identity."""

Ident = tuple[int, int]
Block = tuple[str, bytes]
"""(source name, bytes of whole lines)."""


@dataclass
class _Tail:
    """One open file being read."""

    name: str
    fd: int
    ident: Ident
    pos: int
    cutter: LineCutter = field(default_factory=LineCutter)
    quiet_since: float = 0.0  # clock time of the last growth (for retired files)
    deleted: bool = False
    line_end: int = -1  # offset just past the last whole line handed out (-1: pos)
    checksum: str = ""  # of the first line, once a line was handed out
    drain: bool = False  # resumed after a rotation: read to its end before the rest

    def __post_init__(self) -> None:
        if self.line_end < 0:
            self.line_end = self.pos

    def read(self, limit: int = MAX_READ) -> tuple[bytes, bool]:
        """Whole lines newly written, and whether the end of the file was reached."""
        out: list[bytes] = []
        got = 0
        while got < limit:
            chunk = os.pread(self.fd, READ_SIZE, self.pos)
            if not chunk:
                return b"".join(out), True
            at = self.pos
            self.pos += len(chunk)
            got += len(chunk)
            lines = self.cutter.push(chunk)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                self.line_end = at + nl + 1
            if lines:
                out.append(lines)
        return b"".join(out), False

    def flush(self) -> bytes:
        """The unfinished last line, as a line (the file is done with, or truncated)."""
        self.line_end = self.pos
        return self.cutter.flush()

    def position(self, role: str) -> Position:
        if not self.checksum and self.line_end > 0:
            self.checksum = first_line_checksum(self.fd, self.line_end)
        try:
            size = os.fstat(self.fd).st_size
        except OSError:
            size = -1
        dev, ino = self.ident
        return Position(self.name, dev, ino, self.checksum, self.line_end, role, size, self.pos)


def has_magic(pattern: str) -> bool:
    return glob.has_magic(pattern)


class Follower:
    """Follows `patterns` (paths or shell globs). See the module docstring.

    `start` decides where files found by the first poll are read from:
    "beginning", "end" (only what is written from now on), or a callable
    giving the byte offset to start at for a path (for `--since 10m`). Files
    that appear later are always read from their start. With `say_start`,
    `note` says where each of those first files is read from.
    """

    def __init__(
        self,
        patterns: list[str],
        *,
        start: str | Callable[[str, int], int] = "beginning",
        clock: Callable[[], float] = time.monotonic,
        retire_after: float = 5.0,
        rescan: float = 1.0,
        note: Callable[[str], None] | None = None,
        say_start: bool = False,
        resume: Sequence[Position] = (),
    ) -> None:
        self.patterns = list(patterns)
        self._start = start
        self._clock = clock
        self.retire_after = retire_after
        self.rescan = rescan
        self._note = note or (lambda _text: None)
        self._say_start = say_start
        self._active: dict[str, _Tail] = {}  # name -> file now at that name
        self._retired: list[_Tail] = []  # replaced or deleted, still read until quiet
        self._done: dict[Ident, int] = {}  # closed files -> bytes read (never read twice)
        self._missing: set[str] = set()  # literal paths not there at the last look
        self._first = True
        self._last_scan = float("-inf")
        self._resume = list(resume)
        self._done_sums: dict[Ident, str] = {}  # checksums of files done with

    # ------------------------------------------------------------------ api

    @property
    def names(self) -> list[str]:
        return list(self._active)

    def open_files(self) -> int:
        return len(self._active) + len(self._retired)

    def poll(self) -> list[Block]:
        """Read everything new; notice rotation, truncation and new files."""
        now = self._clock()
        out: list[Block] = []
        if self._resume:
            self._resume_files(now)
        # Old files first: a rotated file's last lines come before the new file's first.
        draining = False
        for tail in list(self._retired):
            data, eof = tail.read()
            if data:
                tail.quiet_since = now
                out.append((tail.name, data))
            elif now - tail.quiet_since >= self.retire_after:
                self._close(tail, out)
                self._retired.remove(tail)
            if tail.drain:
                tail.drain = not eof
                draining = draining or tail.drain
        if draining:
            return out  # a file rotated while stopped is read to its end first
        scan = self._first or now - self._last_scan >= self.rescan
        for name in list(self._active):
            tail = self._active[name]
            data, eof = tail.read()
            if data:
                out.append((name, data))
            if eof:
                self._check(name, tail, out, now)
        if scan:
            self._last_scan = now
        self._scan(out, globs=scan)
        self._first = False
        return out

    def close(self) -> None:
        for tail in [*self._active.values(), *self._retired]:
            os.close(tail.fd)
        self._active.clear()
        self._retired.clear()

    def positions(self) -> list[Position]:
        """Where every file was read to, for a restart (see the module docstring).

        Taken between polls, every block handed out having been consumed."""
        out = [tail.position("active") for tail in self._active.values()]
        out += [tail.position("retired") for tail in self._retired]
        for (dev, ino), pos in list(self._done.items())[-MAX_DONE:]:
            out.append(Position("", dev, ino, self._done_sums.get((dev, ino), ""), pos, "done"))
        return out

    # ------------------------------------------------------------ internals

    def _check(self, name: str, tail: _Tail, out: list[Block], now: float) -> None:
        """At the end of `tail`: is `name` still the same file, and not truncated?"""
        try:
            st = os.stat(name)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != tail.ident:
            # Rotated away or deleted: keep reading the old file until it is quiet.
            del self._active[name]
            tail.quiet_since = now
            self._retired.append(tail)
            if st is None:
                self._missing.add(name)
                self._note(f"{safe(name)}: gone; waiting for it to come back")
                return
            self._note(f"{safe(name)}: replaced by a new file (rotated); reading it from its start")
            self._open(name, st, out, from_start=True)
            return
        size = os.fstat(tail.fd).st_size
        if size < tail.pos:
            self._note(f"{safe(name)}: truncated; reading it from its start")
            rest = tail.flush()
            if rest:
                out.append((name, rest))
            tail.pos = tail.line_end = 0
            tail.checksum = ""
            data, _eof = tail.read()
            if data:
                out.append((name, data))

    def _scan(self, out: list[Block], *, globs: bool) -> None:
        """Open files at watched names that are not open yet (globs only when `globs`)."""
        for pattern in self.patterns:
            if has_magic(pattern):
                if not globs:
                    continue
                names = sorted(glob.glob(pattern))
            else:
                names = [pattern]
            for name in names:
                if name in self._active:
                    continue
                try:
                    st = os.stat(name)
                except OSError:
                    self._missing.add(name)
                    continue
                if not _is_file(st.st_mode):
                    continue
                if name in self._missing:
                    self._missing.discard(name)
                    if not self._first:
                        self._note(f"{safe(name)}: appeared; reading it from its start")
                self._open(name, st, out, from_start=not self._first)

    def _open(self, name: str, st: os.stat_result, out: list[Block], *, from_start: bool) -> None:
        ident = (st.st_dev, st.st_ino)
        for tail in self._retired:
            if tail.ident == ident:
                # A file we are still reading under its old name: carry on under the new one.
                self._retired.remove(tail)
                tail.name = name
                self._active[name] = tail
                return
        for tail in self._active.values():
            if tail.ident == ident:
                return  # already read under another name (two globs, or a hard link)
        try:
            fd = os.open(name, os.O_RDONLY)
        except OSError as exc:
            self._note(f"{safe(name)}: cannot open: {safe(exc.strerror or str(exc))}")
            return
        fst = os.fstat(fd)
        ident = (fst.st_dev, fst.st_ino)
        if os.pread(fd, 2, 0) == _GZIP_MAGIC:
            os.close(fd)
            self._done.setdefault(ident, 0)
            self._note(f"{safe(name)}: compressed; not followed")
            return
        tail = _Tail(name, fd, ident, 0)
        if ident in self._done:
            done = self._done.pop(ident)  # read before under another name
            tail.pos = done if done <= fst.st_size else 0
        elif not from_start:
            tail.pos = self._first_offset(name, fst.st_size)
            if self._say_start:
                self._note(f"{safe(name)}: following from byte {tail.pos:,} of {fst.st_size:,}")
            if tail.pos > 0 and os.pread(fd, 1, tail.pos - 1) != b"\n":
                tail.cutter.skip_partial = True
        tail.line_end = tail.pos
        self._active[name] = tail
        data, _eof = tail.read()
        if data:
            out.append((name, data))

    def _first_offset(self, name: str, size: int) -> int:
        start = self._start
        if start == "end":
            return size
        if callable(start):
            return max(0, min(size, start(name, size)))
        return 0

    def _close(self, tail: _Tail, out: list[Block]) -> None:
        rest = tail.flush()
        if rest:
            out.append((tail.name, rest))
        try:
            deleted = os.fstat(tail.fd).st_nlink == 0
        except OSError:
            deleted = True
        os.close(tail.fd)
        if not deleted:
            # Its inode cannot be reused while the file exists: remember what was read.
            self._done[tail.ident] = tail.pos
            if tail.checksum:
                self._done_sums[tail.ident] = tail.checksum

    # --------------------------------------------------------------- resume

    def _resume_files(self, now: float) -> None:
        """Open the files of the positions given to `resume`, at their offsets."""
        positions, self._resume = self._resume, []
        for p in positions:
            ident = (p.dev, p.ino)
            if p.role == "done":
                self._done[ident] = p.offset
                if p.checksum:
                    self._done_sums[ident] = p.checksum
                continue
            found = self._find(p)
            if found is None:
                if p.offset > 0:
                    self._note(
                        f"{safe(p.name)}: the file read to byte {p.offset:,} before the "
                        "restart is gone; going on without it"
                    )
                continue
            path, fd, size = found
            tail = _Tail(p.name, fd, ident, p.offset, checksum=p.checksum)
            if p.role == "active" and path == p.name and p.name not in self._active:
                self._active[p.name] = tail
                continue
            tail.quiet_since = now
            tail.drain = True
            if path != p.name:
                self._note(
                    f"{safe(p.name)}: rotated to {safe(path)} while stopped; reading it on "
                    f"from byte {p.offset:,} of {size:,}"
                )
            self._retired.append(tail)

    def _find(self, p: Position) -> tuple[str, int, int] | None:
        """(path, open fd, size) of the file of position `p`: at its name, else
        in that name's directory, with the same identity and first line."""
        candidates = [p.name]
        try:
            with os.scandir(os.path.dirname(p.name) or ".") as entries:
                for n, entry in enumerate(entries):
                    if n >= MAX_SCAN:
                        break
                    if entry.inode() == p.ino and entry.path != p.name:
                        candidates.append(entry.path)
        except OSError:
            pass
        for path in candidates:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            st = os.fstat(fd)
            if (
                (st.st_dev, st.st_ino) == (p.dev, p.ino)
                and _is_file(st.st_mode)
                and st.st_size >= p.offset
                and first_line_checksum(fd, p.offset) == p.checksum
            ):
                return path, fd, st.st_size
            os.close(fd)
        return None


def _is_file(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
