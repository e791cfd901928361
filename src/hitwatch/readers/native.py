"""The native reader: a source's bytes through the compiled kernel into the engine.

For each block the kernel parses every line, runs the per-line time model
(M, final second, lateness; late and invalid lines attributed as SPEC §3's
note says) and counts; it hands over the hits of final seconds and the
counts of complete intervals (a complete interval already ranked, the fields
of its report, when that is the same as Python's ranking: see `_kernel.c`),
everything at the end of a source or after each block of a live one.
`Engine.absorb` takes them: Python's work is per block, per second and per
interval, never per line.

A regular file is read by worker threads of the kernel (`reader.h`) while
this thread turns what they hand over into events.

A text format other than CSV and CLF is read by the kernel from its
description (`native.description`): its intervals then come with their
vhosts and durations (ranked ones with their vhosts and latency), and its
record log with each record's vhost and duration.
"""

from __future__ import annotations

import io
import os
import stat
import weakref
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from hitwatch import formats, native
from hitwatch.engine.core import Engine, TimeState
from hitwatch.engine.intervals import ReadyReport
from hitwatch.engine.recent import LazyLog
from hitwatch.model import MAX_LINE, Latency
from hitwatch.native._kernel import Kernel
from hitwatch.readers.base import Note, OnInvalid
from hitwatch.readers.python import SourceReader
from hitwatch.sources import BLOCK_SIZE, BOM, Source, SourceError, reason_of

if TYPE_CHECKING:
    from hitwatch.native._kernel import Fed, Ready

FILE_BLOCK = 1 << 20
"""Bytes read at a time from a finite source (a bigger block hands over more whole intervals)."""

DETECT_BLOCK = 64 << 10
"""Bytes read at a time while the format is detected: in this thread, before
the workers start, so little (detection holds blocks back until its sample
of lines is complete, so the block size does not change its answer)."""

CHUNK = 32 << 20
"""Bytes of a regular file a worker thread takes at a time (see reader.h)."""

MAP = True
"""Parse a regular file in a map of it (reader.h); False: copy it with pread."""

WORKERS: int | None = None
"""Worker threads for a regular file (`--workers`); None: `default_workers`.
The output is the same with any number."""


def default_workers(size: int) -> int:
    """Threads to read a regular file of `size` bytes with."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 else 1


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
        records: bool = False,
    ) -> None:
        super().__init__(source, format_name, note, engine, on_invalid)
        self.records = records  # the kernel hands the engine its accepted records' log
        self.block_size = 0  # 0: FILE_BLOCK
        self._kernels: dict[str, Kernel] = {}  # by format
        self._holding: Kernel | None = None  # a kernel that may hold counts
        self._what = "invalid line"  # why a description's line that has not its shape is invalid

    def _feed(self, data: bytes) -> int:
        if not self._checked:
            self.check_given(
                formats.decode_lines(formats.head_lines(data, formats.SCAN_LINES)).lines
            )
        kernel = self._kernel(self._format_of(data))
        if kernel is None:
            return super()._feed(data)
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
        while self.deciding():
            # Detection (or the check of a given format) holds lines back
            # until its sample is complete.
            last = not buf.fill(DETECT_BLOCK)
            data = buf.take(buf.have if last else buf.whole())
            yield self.feed(data) if data else 0
            if last:
                return
        kernel = self._holding = self._kernel(self._format_of(b""))
        if kernel is None:
            # A format the kernel does not parse: the Python parsers read it.
            while True:
                last = not buf.fill()
                data = buf.take(buf.have if last else buf.whole())
                yield self._feed(data) if data else 0
                if last:
                    return
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
        # With no rule that counts records, only `top` needs them, when an
        # alert fires: a block read from the map is then read again for them.
        again = None
        if self.records and not any(rule.counts for rule in self.engine.rules):
            again = BlockLogs(fd, self._make_kernel(self._format_of(b""), records=True))
        kernel.start(
            fd,
            offset,
            buf.take(buf.have),
            self.lineno + 1,
            buf.block,
            buf.skipping,
            WORKERS or default_workers(os.fstat(fd).st_size),
            CHUNK,
            MAP,
            -1,
            True,
            again is not None,
        )
        try:
            while (got := kernel.next()) is not None:
                at, rows, late = got[19], got[7], got[8]
                log = None
                if again is not None and at >= 0 and rows > late:
                    log = partial(again.log, at, got[0], self.engine.time_state())
                yield self._take(got, log)[1]
        except OSError as exc:
            raise SourceError(f"{source.name}: {reason_of(exc)}") from None
        finally:
            kernel.stop()

    def _take(self, out: Fed, log: LazyLog | None = None) -> tuple[int, int]:
        """Give the engine what the kernel handed over: (bytes used, lines read);
        `log`: what makes the record log the kernel left out."""
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
            records,
            _at,
        ) = out
        self.lineno += lines
        self.parsed += rows
        self.failed += invalid
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
            ready=_reports(ready) if ready else None,
            records=records if log is None else log,
        )
        if bad:
            name = self.source.name
            for lineno, code, nfields in bad:
                self.on_invalid(name, lineno, native.reason(code, nfields, self._what))
        return used, lines

    def _format_of(self, data: bytes) -> str:
        """The source's format, detected by the kernel from the first lines of
        `data` if it is not decided yet: csv until it can be (see _format)."""
        if self.fmt_name is not None:
            return self.fmt_name
        head = formats.head_lines(data, formats.SCAN_LINES)
        nlines = head.count(b"\n") + (not head.endswith(b"\n"))  # as decode_lines counts
        module = native.kernel_module()
        assert module is not None
        detect = lambda: formats.detect_bytes_full(head, module.classify)  # noqa: E731
        return self._decide(nlines, detect) or "csv"

    def _kernel(self, name: str) -> Kernel | None:
        """The kernel for format `name`, or None when it does not parse it."""
        if native.format_code(name) is None:
            return None
        kernel = self._kernels.get(name)
        if kernel is None:
            kernel = self._kernels[name] = self._make_kernel(name, self.records)
            if formats.FORMATS[name].native == native.DESC:
                self._what = native.what_of(name)
        return kernel

    def _make_kernel(self, name: str, records: bool) -> Kernel:
        code = native.format_code(name)
        assert code is not None
        engine = self.engine
        desc = native.description(name) if formats.FORMATS[name].native == native.DESC else None
        if desc is None:
            return Kernel(code, engine.interval, engine.lateness, engine.top, records)
        return Kernel(code, engine.interval, engine.lateness, engine.top, records, desc)


class BlockLogs:
    """Blocks of a regular file read again for their record logs (lazy logs):
    the same bytes from the same time state give the same accepted records."""

    def __init__(self, fd: int, kernel: Kernel) -> None:
        self.fd = os.dup(fd)  # the source may be closed before an alert asks
        weakref.finalize(self, os.close, self.fd)
        self.kernel = kernel

    def log(self, at: int, size: int, state: TimeState) -> bytes:
        """The record log of the `size` bytes at `at`, read from time state `state`."""
        data = os.pread(self.fd, size, at)
        self.kernel.set_state(*state)
        return self.kernel.feed(data, 1, True, True)[18]


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


def _reports(ready: dict[int, Ready]) -> dict[int, ReadyReport]:
    """Ranked intervals as Engine takes them: a description's come with their
    vhosts and latency (a Latency), which follow the other fields of its Report
    (`Report(start, end, *ready)`)."""
    out: dict[int, ReadyReport] = {}
    for k, fields in ready.items():
        *report, latency = fields
        if len(fields) == 9:
            out[k] = cast(ReadyReport, fields)
        else:
            lat = cast("tuple[float, float, float, float, int] | None", latency)
            out[k] = cast(ReadyReport, (*report, None if lat is None else Latency(*lat)))
    return out


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
