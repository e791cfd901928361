"""The native engine: a compiled kernel that reads blocks of bytes (issue 3).

`_kernel` (C, built by `pip install .` when a C compiler is present) replaces
decode + parse + ingest of the pure engine: for each block it parses every
line with the rules of `hitwatch.formats`, runs the time model of
`Engine.feed` record by record (late and invalid attribution included) and
hands back the hits of final seconds and the counts of complete intervals
keyed by decoded text (everything, at the end of a source or for a live
one). A complete interval whose keys are all ASCII comes back ranked as
`Engine._emit_report` ranks (the fields of its report), and `jsonl.h`
writes report lines; both are held to the Python code by the tests.
`Engine.absorb` takes it all and emits the events with the same Python code
as the pure engine (time model, alert rule, order): Python work is per
block, per interval and per distinct key, never per line.

Imported lazily (only when a run uses it) so `hitwatch --version` stays fast.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from types import ModuleType

from hitwatch import formats
from hitwatch._typing import TYPE_CHECKING
from hitwatch.engine.core import Engine
from hitwatch.formats.base import MAX_LINE
from hitwatch.pipeline import Note, OnInvalid, SourceReader
from hitwatch.sources import BLOCK_SIZE, BOM, Source, SourceError, reason_of

if TYPE_CHECKING:
    from hitwatch.native._kernel import Fed, Kernel
    from hitwatch.rules.high_traffic import Scan
    from hitwatch.sinks.jsonl import FastReportLine

_REASONS = {
    1: "line longer than 64 KiB",
    2: "broken CSV quoting",
    4: "bad date",
    5: "bad status",
    6: "bad bytes",
    7: "not a Common/Combined Log Format line",
    8: "bad timestamp",
}
_FIELDS = 3
LIMIT = 1 << 60
"""Larger --interval or --lateness values go to the pure engine (the kernel is 64-bit)."""

FILE_BLOCK = 1 << 20
"""Bytes read at a time from a finite source (a bigger block hands over more whole intervals)."""

DETECT_BLOCK = 64 << 10
"""Bytes read at a time while the format is detected: in this thread, before
the workers start, so little (detection holds blocks back until its sample
of lines is complete, so the block size does not change its answer)."""

CHUNK = 32 << 20
"""Bytes of a regular file a worker thread takes at a time (see reader.h);
with two workers on a 157 MiB log, 10, 20 and 32 MiB chunks took the same time."""


def _default_workers() -> int:
    # The CPUs this process may run on (a container may get fewer than the host has).
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 else 1


MAP = True
"""Parse a regular file in a map of it (reader.h); False: copy it with pread."""

WORKERS = _default_workers()
"""Worker threads for a regular file: the output is the same with any number.
Two where there are two CPUs: on 2 cores, two workers beside the Python
thread read a 1M-line log ~20% faster than one, and three are slower than
two (see README's Speed)."""

_import_error: str | None = None


def kernel_module() -> ModuleType | None:
    """The compiled module, or None when it was not built (see `why_not`)."""
    global _import_error
    try:
        from hitwatch.native import _kernel
    except ImportError as exc:
        _import_error = str(exc)
        return None
    return _kernel


def available() -> bool:
    return kernel_module() is not None


def why_not() -> str:
    """Why the kernel cannot be used, for the --verbose note."""
    kernel_module()
    return _import_error or "it is available"


def fast_report_line() -> FastReportLine | None:
    """The compiled encoder of a report's JSON line, when the kernel is built."""
    module = kernel_module()
    return None if module is None else module.report_line


def fast_scan() -> Scan | None:
    """The compiled high_traffic window (HighTraffic.take_seconds), when the kernel is built."""
    module = kernel_module()
    return None if module is None else module.scan


def detect(head: bytes) -> str | None:
    """formats.detect by the kernel, on the undecoded first lines of a source."""
    module = kernel_module()
    assert module is not None
    return formats.detect_bytes(head, module.classify)


def supports(interval: int, lateness: int) -> bool:
    return 0 < interval < LIMIT and 0 <= lateness < LIMIT


def reason(code: int, nfields: int) -> str:
    if code == _FIELDS:
        return f"{nfields} CSV fields, expected 7"
    return _REASONS.get(code, "invalid line")


class NativeReader(SourceReader):
    """A SourceReader whose parse + ingest step is the compiled kernel.

    `feed` (live sources, and the first lines while the format is detected)
    hands every count to the engine after each block, so the engine may move
    its clock itself in between (the idle clock). `read`, for finite sources,
    reads into one reused buffer and leaves open intervals in the kernel
    until they are complete: Python then sees each interval once.
    """

    def __init__(
        self,
        source: Source,
        format_name: str,
        note: Note,
        engine: Engine,
        on_invalid: OnInvalid,
        *,
        report_lines: bool = False,
    ) -> None:
        super().__init__(source, format_name, note, engine, on_invalid)
        self.report_lines = report_lines  # complete intervals as their JSON lines (jsonl runs)
        self.block_size = 0  # 0: FILE_BLOCK
        self._kernels: dict[str, Kernel] = {}
        self._holding: Kernel | None = None  # a kernel that may hold counts

    def _feed(self, data: bytes) -> int:
        kernel = self._kernel(self._format_of(data))
        kernel.set_state(*self.engine.time_state(), self.engine.holds_upto())
        return self._take(kernel.feed(data, self.lineno + 1, True, True))[1]

    def flush(self) -> int:
        lines = super().flush()
        kernel, self._holding = self._holding, None
        if kernel is not None:
            # Reading stopped early (an error): hand over what the kernel holds.
            lines += self._take(kernel.feed(b"", self.lineno + 1, True, True))[1]
        return lines

    def read(self, source: Source) -> Iterator[int]:
        if source.live or not hasattr(source.stream, "readinto"):
            yield from super().read(source)
            return
        fd = _regular_fd(source)
        # Other streams (gzip) in the usual blocks: a read that fails part-way
        # loses what it decompressed, so what was read before it stays small.
        buf = LineBuffer(source, self.block_size or (BLOCK_SIZE if fd is None else FILE_BLOCK))
        while self.fmt_name is None and self.format_name == "auto":
            # Detection holds lines back until its sample is complete.
            last = not buf.fill(DETECT_BLOCK)
            data = buf.take(buf.have if last else buf.whole())
            yield self.feed(data) if data else 0
            if last:
                return
        kernel = self._holding = self._kernel(self._format_of(b""))
        kernel.set_state(*self.engine.time_state(), self.engine.holds_upto())
        if fd is None or not hasattr(kernel, "start"):
            for out in kernel_blocks(kernel, buf, self.lineno + 1):
                yield self._take(out)[1]
            self._holding = None
            return
        if buf.at_start:
            # The workers do not drop a byte-order mark, LineBuffer does: the
            # first block in this thread, everything handed over before them.
            last = not buf.fill()
            used, lines = self._take(kernel.feed(buf.data(), self.lineno + 1, last, True))
            buf.consume(used)
            yield lines
            if last:
                self._holding = None
                return
        # A regular file: worker threads read and parse it (no GIL; see
        # reader.h) while this one turns what they hand over into events.
        self._holding = None  # each chunk hands everything over at its end
        offset = source.stream.tell()
        kernel.start(
            fd,
            offset,
            buf.take(buf.have),
            self.lineno + 1,
            buf.block,
            buf.skipping,
            WORKERS,
            CHUNK,
            MAP,
        )
        try:
            while (got := kernel.next()) is not None:
                yield self._take(got)[1]
        except OSError as exc:
            raise SourceError(f"{source.name}: {reason_of(exc)}") from None
        finally:
            kernel.stop()

    def _take(self, out: Fed) -> tuple[int, int]:
        """Give the engine what the kernel handed over: (bytes used, lines read)."""
        (
            used,
            started_n,
            start,
            final,
            max_ts,
            min_ts,
            pending,
            rows,
            late,
            invalid,
            headers,
            empty,
            lines,
            max_late,
            seconds,
            intervals,
            bad,
            ready,
        ) = out
        self.lineno += lines
        engine = self.engine
        engine.add_skipped(headers, empty)
        engine.absorb(
            (bool(started_n), start, final, max_ts, min_ts, pending),
            rows=rows,
            late=late,
            invalid=invalid,
            max_late=max_late,
            seconds=seconds,
            intervals=intervals,
            ready=ready,
        )
        if bad:
            name = self.source.name
            for lineno, code, nfields in bad:
                self.on_invalid(name, lineno, reason(code, nfields))
        return used, lines

    def _format_of(self, data: bytes) -> str:
        """The source's format, detected by the kernel from the first lines of
        `data` if it is not decided yet: csv until it can be (see _format)."""
        if self.fmt_name is not None:
            return self.fmt_name
        head = formats.head_lines(data, formats.SCAN_LINES)
        nlines = head.count(b"\n") + (not head.endswith(b"\n"))  # as decode_lines counts
        return self._decide(nlines, lambda: detect(head)) or "csv"

    def _kernel(self, name: str) -> Kernel:
        kind = "csv" if name == "csv" else "clf"
        kernel = self._kernels.get(kind)
        if kernel is None:
            module = kernel_module()
            assert module is not None
            engine = self.engine
            code = module.CSV if kind == "csv" else module.CLF
            kernel = self._kernels[kind] = module.Kernel(
                code, engine.interval, engine.lateness, engine.top, self.report_lines
            )
        return kernel


class LineBuffer:
    """A finite source read into one reused buffer, handed out as whole lines.

    Cuts as `sources.LineCutter` does: a UTF-8 byte-order mark at the start
    is dropped, and a line longer than MAX_LINE keeps only MAX_LINE + 2 bytes
    (still too long after a CR is stripped, so it stays invalid).
    """

    def __init__(self, source: Source, block: int) -> None:
        self.source = source
        self.block = block
        self.buf = bytearray(block + MAX_LINE + 2)
        self.have = 0  # bytes in buf: an unfinished line, then what was read
        self.skipping = False  # inside an overlong line: drop bytes up to its newline
        self.at_start = True

    def fill(self, limit: int = 0) -> bool:
        """Read the next block (at most `limit` bytes, if given) after what is
        held; False at the end of the source."""
        buf = self.buf
        size = min(limit, self.block) if limit > 0 else self.block
        while True:
            have = self.have
            n = self.source.read_into(memoryview(buf)[have : have + size])
            if not n:
                return False
            if self.skipping:
                nl = buf.find(b"\n", have, have + n)
                if nl < 0:
                    continue
                buf[have : have + n] = buf[nl : have + n]
                n = have + n - nl
                self.skipping = False
            self.have = have + n
            if self.at_start:
                if self.have < len(BOM):
                    continue
                self.at_start = False
                if buf.startswith(BOM):
                    buf[: self.have - len(BOM)] = buf[len(BOM) : self.have]
                    self.have -= len(BOM)
            return True

    def data(self) -> memoryview:
        return memoryview(self.buf)[: self.have]

    def whole(self) -> int:
        """Bytes up to and including the last newline held."""
        return self.buf.rfind(b"\n", 0, self.have) + 1

    def take(self, used: int) -> bytes:
        data = bytes(self.buf[:used])
        self.consume(used)
        return data

    def consume(self, used: int) -> None:
        """Drop the first `used` bytes (whole lines), keeping the unfinished line."""
        rest = self.have - used
        if rest > MAX_LINE + 2:
            rest = MAX_LINE + 2
            self.skipping = True
        self.buf[:rest] = self.buf[used : used + rest]
        self.have = rest


def kernel_blocks(kernel: Kernel, buf: LineBuffer, lineno: int) -> Iterator[Fed]:
    """Feed `buf`'s source through the kernel to its end (everything handed over at the end)."""
    while True:
        last = not buf.fill()
        out = kernel.feed(buf.data(), lineno, last, last)
        lineno += out[12]
        buf.consume(out[0])
        yield out
        if last:
            return


def _regular_fd(source: Source) -> int | None:
    """The descriptor of a plain regular file (not gzip), which C may read with pread."""
    stream = source.stream
    if not isinstance(stream, io.BufferedReader):
        return None
    try:
        fd = stream.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError):
        return None
