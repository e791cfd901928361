"""The kernel's accepted-record log (`Kernel(..., records=True)`) against the pure reader.

Whatever way the native reader reads a source (block by block as a live
source is fed, its own buffer, a real file read by worker threads from
guessed states, in a map or with pread only), the records of all its results,
in order, must be exactly the records the pure engine accepts: the Python
parsers' rows with SPEC §2's lateness rule applied. Each result's log holds
the records of that result (rows - late of them). `_kernel.records_columns`
must read any log as `hitwatch.native.decode_records` does, and refuse a
malformed one with ValueError, never crash.
"""

from __future__ import annotations

import functools
import os
import random
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import (
    APACHE_LOGS,
    CSV_HEADER,
    SAMPLE_CSV,
    ChunkedReadinto,
    ChunkedStream,
    csv_line,
    cut,
    file_block,
    needs_data,
)
from hitwatch import native
from hitwatch.engine.core import Engine
from hitwatch.model import Column
from hitwatch.sources import Source, open_source
from test_native import chunkings, logs, span

pytestmark = pytest.mark.skipif(
    not native.available(), reason=f"native kernel not built: {native.why_not()}"
)

Record = tuple[int, str, str, str, str]
"""(ts, section, host, method, status) of an accepted record."""

HEAD = struct.Struct("<qHHII")


def _kernel() -> Any:
    module = native.kernel_module()
    assert module is not None
    return module


def columns(blob: bytes) -> list[Record]:
    """A log's records, read by both decoders (which must agree)."""
    cols = native.decode_records(blob)
    assert _kernel().records_columns(blob) == cols
    ts, sections, hosts, methods, statuses = cols
    return list(zip(ts, sections, hosts, methods, statuses, strict=True))


# ------------------------------------------------------- the two engines


class RowsEngine(Engine):
    """The pure engine, keeping every row its reader parsed, in reading order."""

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.parsed: list[tuple[int, str, str, str, str]] = []

    def feed_columns(
        self,
        ts: list[int],
        nbytes: list[int],
        sections: Column,
        hosts: Column,
        statuses: Column,
        methods: Column,
        vhosts: Column | None = None,
        durations: Sequence[float | None] | None = None,
    ) -> None:
        self.parsed += zip(ts, sections, hosts, methods, statuses, strict=True)
        super().feed_columns(ts, nbytes, sections, hosts, statuses, methods, vhosts, durations)


class LogEngine(RowsEngine):
    """An engine that keeps the record log of every block a native reader hands it
    (and, as RowsEngine, the rows of a format the kernel does not parse, which
    the native reader reads with the Python parsers)."""

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.logged: list[Record] = []
        self.blocks = 0

    def absorb(self, state: Any, **counts: Any) -> None:
        blob = counts["records"]
        if callable(blob):  # a block of a regular file, read again for its log
            blob = blob()
        assert isinstance(blob, bytes)
        got = columns(blob)
        # A result's log holds the records it counted: rows less the late ones.
        assert len(got) == counts["rows"] - counts["late"]
        self.logged += got
        self.blocks += 1
        super().absorb(state, **counts)


def accepted(rows: Sequence[Record], lateness: int) -> list[Record]:
    """The rows the engine accepts (SPEC §2, `Engine._feed_unstarted` and
    `_feed_started`): every row until the timeline starts, then those newer
    than the last final second F = M - L - 1."""
    lag = lateness + 1
    started = False
    m = final = -1
    low = 0
    out: list[Record] = []
    for row in rows:
        ts = row[0]
        if not started:
            low = ts if m < 0 or ts < low else low
            m = max(m, ts)
            out.append(row)
            if m - lag >= low:
                started = True
                final = m - lag
            continue
        if ts > m:
            m = ts
            final = max(final, m - lag)
        elif ts <= final:
            continue
        out.append(row)
    return out


def read(
    engine: Engine,
    data: bytes,
    *,
    native_reader: bool,
    via: str = "read",
    chunks: Sequence[int] | None = None,
    fmt: str = "auto",
) -> None:
    """Read `data` into `engine` with the pure or the native reader (records on),
    as the pipeline does: `via` read (blocks fed one by one, as for a live
    source), readinto (its own buffer), or file (worker threads)."""
    from hitwatch.readers.native import NativeReader
    from hitwatch.readers.python import SourceReader

    with tempfile.TemporaryDirectory() as tmp:
        if via == "file":
            path = Path(tmp) / "log"
            path.write_bytes(data)
            source = open_source(str(path))
        else:
            stream = (ChunkedReadinto if via == "readinto" else ChunkedStream)(cut(data, chunks))
            source = Source("<test>", stream, live=False)  # type: ignore[arg-type]
        notes: list[str] = []

        def on_invalid(name: str, lineno: int, reason: str) -> None:
            pass

        try:
            if native_reader:
                reader: SourceReader = NativeReader(
                    source, fmt, notes.append, engine, on_invalid, records=True
                )
            else:
                reader = SourceReader(source, fmt, notes.append, engine, on_invalid)
            for _ in reader.read(source):
                pass
            reader.flush()
        finally:
            source.close()
    engine.finish()


def pure_records(
    data: bytes, *, fmt: str = "auto", lateness: int = 300, **opts: Any
) -> list[Record]:
    engine = RowsEngine(lateness=lateness, **opts)
    read(engine, data, native_reader=False, fmt=fmt)
    return accepted(engine.parsed, lateness)


def native_records(
    data: bytes,
    *,
    via: str,
    block: int | None = None,
    chunks: Sequence[int] | None = None,
    fmt: str = "auto",
    **opts: Any,
) -> list[Record]:
    mapped = via != "file-pread"
    engine = LogEngine(**opts)
    with file_block(block, workers=2, mapped=mapped):
        read(engine, data, native_reader=True, via="file" if via == "file-pread" else via,
             chunks=chunks, fmt=fmt)  # fmt: skip
    if engine.parsed:  # read by the Python parsers: a format the kernel does not parse
        assert not engine.logged
        return accepted(engine.parsed, engine.lateness)
    return engine.logged


WAYS = ["read", "readinto", "file", "file-pread"]


def check_records(
    data: bytes,
    *,
    native_chunks: Sequence[int] | None = None,
    fmt: str = "auto",
    **opts: Any,
) -> list[Record]:
    want = pure_records(data, fmt=fmt, **opts)
    block = native_chunks[-1] if native_chunks else None
    for via in WAYS if not data.startswith(b"\x1f\x8b") else WAYS[:2]:
        got = native_records(data, via=via, block=block, chunks=native_chunks, fmt=fmt, **opts)
        assert got == want, f"records differ via {via}"
    return want


# ------------------------------------------------------------ properties

options = st.fixed_dictionaries(
    {
        "interval": st.sampled_from([1, 3, 10, 60]),
        "lateness": st.sampled_from([0, 1, 2, 5, 300]),
        "top": st.sampled_from([1, 5]),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(), chunkings, options)
def test_records_are_the_accepted_ones(
    log: tuple[bytes, str], native_chunks: list[int] | None, opts: dict[str, Any]
) -> None:
    data, fmt = log
    assume(span(data) < 50_000)
    check_records(data, native_chunks=native_chunks, fmt=fmt, **opts)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400), chunkings, st.sampled_from(["auto", "csv", "clf"]))
def test_records_of_any_bytes(data: bytes, chunks: list[int] | None, fmt: str) -> None:
    assume(span(data) < 50_000)
    check_records(data, native_chunks=chunks, fmt=fmt, lateness=2)


@needs_data
@pytest.mark.parametrize("path", [SAMPLE_CSV, APACHE_LOGS], ids=["sample_csv", "apache_logs"])
@pytest.mark.parametrize("lateness", [0, 5, 300])
def test_records_of_real_logs(path: Path, lateness: int) -> None:
    records = check_records(path.read_bytes(), native_chunks=[65536, 7, 100_000], lateness=lateness)
    assert records


@needs_data
@settings(max_examples=20, deadline=None)
@given(st.randoms(use_true_random=False))
def test_records_of_a_shuffled_sample(rnd: random.Random) -> None:
    lines = SAMPLE_CSV.read_bytes().splitlines()[:400]
    head, body = lines[:1], lines[1:]
    for i in range(len(body)):
        j = min(len(body) - 1, i + rnd.randrange(0, 40))
        body[i], body[j] = body[j], body[i]
    data = b"\n".join(head + body) + b"\n"
    check_records(data, native_chunks=[rnd.randrange(1, 5000)], lateness=rnd.choice([0, 5, 300]))


# ------------------------------------------------ worker threads, directly


@functools.cache
def _guessing_log() -> bytes:
    """About 8 MB of CSV whose chunks are guessed wrong: a far-future line
    near the start, which the lines just before a chunk more than 1 MiB past
    it know nothing of (a chunk is guessed from the last MiB before it while
    the ones before it are still read), and the log over again (its second
    copy starts in the past)."""
    base = 1_700_000_000
    lines = [CSV_HEADER]
    for i in range(60_000):
        lines.append(csv_line(base + i // 4, host=f"10.0.{i % 7}.{i % 13}", status=200 + i % 5))
        if i == 300:
            lines.append(csv_line(base + 20_000, request="GET /future HTTP/1.1"))
    lines += lines[1:]
    return ("\n".join(lines) + "\n").encode()


@functools.cache
def _guessing_records(lateness: int) -> list[Record]:
    return pure_records(_guessing_log(), fmt="csv", lateness=lateness)


def _kernel_file(
    path: Path, *, workers: int, chunk: int, mapped: bool, lateness: int
) -> tuple[list[Record], tuple[int, int, int]]:
    """Kernel.start/next over a file: the records of its results, and chunks()."""
    module = _kernel()
    k = module.Kernel(module.CSV, 10, lateness, 5, records=True)
    k.set_state(False, 0, -1, -1, 0, 0, -1)
    got: list[Record] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        k.start(fd, 0, b"", 1, 4096, False, workers, chunk, mapped)
        while (out := k.next()) is not None:
            records = columns(out[18])
            assert len(records) == out[7] - out[8]
            got += records
    finally:
        os.close(fd)
    return got, k.chunks()


@pytest.mark.parametrize("mapped", [True, False], ids=["map", "pread"])
@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.parametrize("lateness", [0, 300])
def test_chunks_thrown_away_leave_no_records(
    tmp_path: Path, workers: int, mapped: bool, lateness: int
) -> None:
    """Chunks read from a guess that proves wrong are read again: the records
    they logged the first time must go with them."""
    path = tmp_path / "a.log"
    path.write_bytes(_guessing_log())
    want = _guessing_records(lateness)
    redone = 0
    # Whether a chunk is guessed at all depends on the threads' timing: the
    # large chunks are read until one was (almost always the first time).
    for chunk in (50_000, *[4 << 20] * 10):
        got, (chunks, _guessed, wrong) = _kernel_file(
            path, workers=workers, chunk=chunk, mapped=mapped, lateness=lateness
        )
        assert chunks >= workers
        assert got == want
        redone += wrong
        if redone:
            break
    assert redone > 0


def test_records_off_is_an_empty_log() -> None:
    module = _kernel()
    line = csv_line(1_700_000_000).encode() + b"\n"
    for k in (module.Kernel(module.CSV, 10, 300), module.Kernel(module.CSV, 10, 300, 5, False)):
        out = k.feed(line * 3, 1, True, True)
        assert len(out) == 20 and out[18] == b"" and out[7] == 3 and out[19] == -1


def test_log_format() -> None:
    """The bytes of a log, as _kernel.pyi documents them: keys raw, as counted."""
    module = _kernel()
    k = module.Kernel(module.CLF, 10, 0, -1, True)
    data = (
        b'h\xe9 - - [10/Oct/2000:13:55:36 +0000] "GET /a/b?x HTTP/1.0" 404 1\n'
        b'h - - [10/Oct/2000:13:55:37 +0000] "\\x16\\x03" 503 0\n'
        b"junk\n"
        b'h - - [10/Oct/2000:13:55:30 +0000] "GET /late HTTP/1.0" 200 1\n'  # late
        b"\n"
    )
    out = k.feed(data, 1, True, True)
    ts = 971186136
    assert out[18] == (
        HEAD.pack(ts, 404, 3, 2, 2) + b"GET/ah\xe9"
        + HEAD.pack(ts + 1, 503, 7, 7, 1) + b"(other)(other)h"
    )  # fmt: skip
    assert native.decode_records(out[18]) == (
        [ts, ts + 1], ["/a", "(other)"], ["h\ufffd", "h"], ["GET", "(other)"], ["404", "503"]
    )  # fmt: skip


# ------------------------------------------------------------- decoders


keys = st.binary(max_size=30) | st.sampled_from(
    [b"GET", b"/api", b"10.0.0.1", b"(other)", b"h\xc3\xa9", b"\xff\xfe", b"x" * 40]
)
records = st.tuples(
    st.integers(-(2**63), 2**63 - 1) | st.integers(1_700_000_000, 1_700_000_005),
    st.integers(100, 599),
    keys,
    keys,
    keys,
)


def pack(recs: Sequence[tuple[int, int, bytes, bytes, bytes]]) -> bytes:
    return b"".join(
        HEAD.pack(t, status, len(m), len(s), len(h)) + m + s + h for t, status, m, s, h in recs
    )


def both(blob: bytes) -> Any:
    """What both decoders make of `blob`: its columns, or ValueError from both."""
    try:
        want: Any = native.decode_records(blob)
    except ValueError:
        with pytest.raises(ValueError):
            _kernel().records_columns(blob)
        return ValueError
    assert _kernel().records_columns(blob) == want
    assert _kernel().records_columns(memoryview(bytearray(blob))) == want
    return want


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=40))
def test_decoders_agree_on_logs(recs: list[tuple[int, int, bytes, bytes, bytes]]) -> None:
    blob = pack(recs)
    got = both(blob)
    assert got == (
        [r[0] for r in recs],
        [r[3].decode("utf-8", "replace") for r in recs],
        [r[4].decode("utf-8", "replace") for r in recs],
        [r[2].decode("utf-8", "replace") for r in recs],
        [str(r[1]) for r in recs],
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(records, min_size=1, max_size=10), st.data())
def test_malformed_logs_are_refused_by_both(
    recs: list[tuple[int, int, bytes, bytes, bytes]], data: st.DataObject
) -> None:
    blob = pack(recs)
    ends = {0}
    for r in recs:
        ends.add(max(ends) + HEAD.size + len(r[2]) + len(r[3]) + len(r[4]))
    cut_at = data.draw(st.integers(0, len(blob)))
    # cut anywhere: whole records, or ValueError from both
    assert (both(blob[:cut_at]) is ValueError) == (cut_at not in ends)
    # a length or a status changed in one record's head
    at = data.draw(st.sampled_from(sorted(ends - {len(blob)})))
    field = data.draw(st.sampled_from([(8, "<H"), (10, "<H"), (12, "<I"), (16, "<I")]))
    value = data.draw(st.sampled_from([0, 99, 600, 0xFFFF, 0xFFFFFFFF, len(blob), len(blob) + 1]))
    offset, kind = field
    if kind == "<H":
        value &= 0xFFFF
    bad = bytearray(blob)
    struct.pack_into(kind, bad, at + offset, value)
    both(bytes(bad))  # whatever it is, both read it alike or both refuse it
    if offset == 8 and not 100 <= value <= 599:
        assert both(bytes(bad)) is ValueError
    if offset != 8 and value >= len(blob):
        assert both(bytes(bad)) is ValueError


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoders_agree_on_any_bytes(blob: bytes) -> None:
    both(blob)


def test_decoders_refuse_by_example() -> None:
    one = pack([(5, 200, b"GET", b"/a", b"h")])
    for bad in (
        one[:-1],
        one[:19],
        one + b"\x00",
        HEAD.pack(5, 200, 3, 0xFFFFFFFF, 0) + b"GET",
        HEAD.pack(5, 200, 0, 2**31, 2**31) + b"x",
        HEAD.pack(5, 99, 0, 0, 0),
        HEAD.pack(5, 600, 0, 0, 0),
    ):
        assert both(bad) is ValueError
    assert both(b"") == ([], [], [], [], [])
    with pytest.raises(TypeError):
        _kernel().records_columns("text")
