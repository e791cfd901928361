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
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hitwatch.render import safe
from hitwatch.sources import LineCutter

READ_SIZE = 1 << 17
"""Bytes asked of the kernel per read."""

MAX_READ = 1 << 22
"""Bytes read from one file per poll, so that many files share a busy loop fairly."""

_GZIP_MAGIC = b"\x1f\x8b"

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

    def read(self, limit: int = MAX_READ) -> tuple[bytes, bool]:
        """Whole lines newly written, and whether the end of the file was reached."""
        out: list[bytes] = []
        got = 0
        while got < limit:
            chunk = os.pread(self.fd, READ_SIZE, self.pos)
            if not chunk:
                return b"".join(out), True
            self.pos += len(chunk)
            got += len(chunk)
            lines = self.cutter.push(chunk)
            if lines:
                out.append(lines)
        return b"".join(out), False


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
        # Old files first: a rotated file's last lines come before the new file's first.
        for tail in list(self._retired):
            data, _eof = tail.read()
            if data:
                tail.quiet_since = now
                out.append((tail.name, data))
            elif now - tail.quiet_since >= self.retire_after:
                self._close(tail, out)
                self._retired.remove(tail)
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
            rest = tail.cutter.flush()
            if rest:
                out.append((name, rest))
            tail.pos = 0
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
        rest = tail.cutter.flush()
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


def _is_file(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


# ------------------------------------------------------------------ --since

_PROBE = 1 << 16


def since_offset(path: str, seconds: int, format_name: str = "auto") -> int:
    """The offset of the first line of `path` at most `seconds` of log time before its end.

    Bisects the file on the timestamps of the lines found after probe offsets,
    so only a few blocks of a large file are parsed. Lines out of order by a
    few seconds make the answer as exact as the log is ordered. 0 when no
    timestamp can be read.
    """
    from hitwatch import formats

    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return 0
        head = fh.read(_PROBE)
        lines = formats.decode_lines(head[: head.rfind(b"\n") + 1] or head).lines
        name = format_name if format_name != "auto" else formats.detect(lines)
        if name is None:
            return 0
        fmt = formats.make(name)

        def first_ts(offset: int) -> tuple[int, int] | None:
            """(ts, start) of the first parsable line starting at or after `offset`."""
            start = offset
            if offset > 0:
                fh.seek(offset - 1)
                data = fh.read(_PROBE)
                nl = data.find(b"\n")
                if nl < 0:
                    return None
                data = data[nl + 1 :]
                start = offset + nl
            else:
                fh.seek(0)
                data = fh.read(_PROBE)
            for raw in data.split(b"\n")[:-1]:
                row = fmt.parse_line(raw.decode("utf-8", "replace").removesuffix("\r"))
                if not isinstance(row, str):
                    return row[0], start
                start += len(raw) + 1
            return None

        last: int | None = None
        fh.seek(max(0, size - _PROBE))
        tail = fh.read()
        for raw in reversed(tail.split(b"\n")):
            row = fmt.parse_line(raw.decode("utf-8", "replace").removesuffix("\r"))
            if not isinstance(row, str):
                last = row[0]
                break
        if last is None:
            return 0
        target = last - seconds
        lo, hi = 0, size
        while lo < hi:
            mid = (lo + hi) // 2
            got = first_ts(mid)
            if got is None or got[0] >= target:
                hi = mid
            else:
                lo = mid + 1
        if lo == 0:
            return 0
        got = first_ts(lo)
        return size if got is None else got[1]
