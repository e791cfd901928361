"""Shared helpers: run hitwatch on bytes in-process and get its JSON lines back.

The shared test data lives beside the repository (`../shared/data`), never
inside it: tests that need it use the `sample_csv` and `apache_logs` fixtures
or `needs_data`, and are skipped, saying why, when it is absent.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from hitwatch.engine.core import Engine
from hitwatch.model import Row
from hitwatch.outputs.jsonl import JsonlSink, encode
from hitwatch.outputs.text import TextSink
from hitwatch.pipeline import run
from hitwatch.rules.rate_above import RateAbove
from hitwatch.sources import Source, open_source

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SAMPLE_CSV = DATA / "sample_csv.txt"
APACHE_LOGS = DATA / "apache_logs"

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"the shared test data is not beside the checkout ({DATA})"
)
"""For tests that read `../shared/data` (CI always has it; a lone clone does not)."""


def shared_file(path: Path) -> Path:
    """A file of the shared test data, or a skip that says it is absent."""
    if not path.is_file():
        pytest.skip(f"the shared test data is not beside the checkout ({path})")
    return path


CSV_HEADER = '"remotehost","rfc931","authuser","date","request","status","bytes"'


@dataclass
class Result:
    """What one in-process run produced."""

    out: str
    notes: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    @property
    def summary(self) -> dict[str, Any]:
        last = self.objects[-1]
        assert last["type"] == "summary"
        return last

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["type"] == kind]


def make_engine(
    *,
    interval: int = 10,
    lateness: int = 300,
    window: int = 120,
    threshold: Fraction | int | str = 10,
    top: int = 5,
    batch: bool = True,
) -> Engine:
    """The engine as the CLI makes it; with `batch=False`, the reference: record
    by record, and second by second for the alert rule."""
    rule = RateAbove("high_traffic", window, Fraction(threshold))
    return Engine(interval=interval, lateness=lateness, top=top, rules=[rule], batch=batch)


def run_bytes(
    data: bytes,
    *,
    chunks: Sequence[int] | None = None,
    fmt: str = "auto",
    output: str = "jsonl",
    engine_name: str = "python",
    via: str = "read",
    **engine_opts: Any,
) -> Result:
    """Run the pipeline (`pipeline.run`, as the CLI does) on `data`, in process.

    `chunks` gives the sizes the bytes arrive in (cycled); by default one chunk.
    `engine_name` picks the reader: the pure-Python reference by default.
    `via`: how the source is read: `read` (a stream of chunks), `readinto` (the
    same, with readinto, which the native reader reads into its own buffer),
    or `file` (a real file on disk, which it reads in a thread of its own).
    """
    engine = make_engine(**engine_opts)
    out = io.StringIO()
    sink = JsonlSink(out) if output == "jsonl" else TextSink(out)
    result = Result("")
    if via == "file":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "log"
            path.write_bytes(data)
            source = open_source(str(path))
            source.name = "<test>"
            return _run(source, fmt, engine, sink, out, result, engine_name)
    stream = (ChunkedReadinto if via == "readinto" else ChunkedStream)(cut(data, chunks))
    source = Source("<test>", stream, live=False)  # type: ignore[arg-type]
    return _run(source, fmt, engine, sink, out, result, engine_name)


def _run(
    source: Source,
    fmt: str,
    engine: Engine,
    sink: JsonlSink | TextSink,
    out: io.StringIO,
    result: Result,
    engine_name: str,
) -> Result:

    def on_invalid(name: str, lineno: int, reason: str) -> None:
        result.invalid.append((lineno, reason))

    state = run(
        [source], fmt, engine, sink, result.notes.append, on_invalid, engine_name=engine_name
    )
    assert not state.errors
    result.out = out.getvalue()
    return result


class ChunkedStream:
    """A binary stream whose reads return the given chunks, whatever size is asked."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)

    def read(self, size: int = -1) -> bytes:
        return next(self._chunks, b"")

    def close(self) -> None:
        pass


class ChunkedReadinto(ChunkedStream):
    """A ChunkedStream that also has `readinto`, which never returns more than
    what is left of the current chunk (so reads end where the chunks do)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__(chunks)
        self._left = b""

    def readinto(self, buffer: memoryview) -> int:
        if not self._left:
            self._left = self.read()
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


@contextmanager
def file_block(
    size: int | None,
    chunk: int | None = None,
    workers: int | None = None,
    mapped: bool | None = None,
) -> Iterator[None]:
    """Make the native reader read finite sources `size` bytes at a time, and a
    regular file in chunks of `chunk` bytes (3 blocks by default, so that even
    small inputs are cut in chunks) with `workers` threads, in a map of the
    file or (`mapped=False`) with pread only."""
    from hitwatch.readers import native

    old = native.FILE_BLOCK, native.CHUNK, native.WORKERS, native.MAP
    if size is not None:
        native.FILE_BLOCK = size
        native.CHUNK = chunk or 3 * size
    if workers is not None:
        native.WORKERS = workers
    if mapped is not None:
        native.MAP = mapped
    try:
        yield
    finally:
        native.FILE_BLOCK, native.CHUNK, native.WORKERS, native.MAP = old


def cut(data: bytes, sizes: Sequence[int] | None) -> Iterable[bytes]:
    """`data` in chunks of the given sizes, cycled; one chunk when None."""
    if not sizes:
        if data:
            yield data
        return
    i = 0
    n = 0
    while i < len(data):
        size = max(1, sizes[n % len(sizes)])
        yield data[i : i + size]
        i += size
        n += 1


def run_jsonl(data: bytes, **opts: Any) -> list[str]:
    return run_bytes(data, **opts).lines


# ------------------------------------------------------------------ engine


INVALID = "invalid"
"""In an engine script, an invalid line read at that point of the input."""

Op = Row | str


def row(
    ts: int,
    section: str = "/a",
    host: str = "h1",
    status: str = "200",
    method: str = "GET",
    nbytes: int = 1,
) -> Row:
    return (ts, nbytes, section, host, status, method)


def rows_at(*seconds: int) -> list[Row]:
    return [row(s) for s in seconds]


def drive(engine: Engine, ops: Iterable[Op], *, columns: bool) -> list[str]:
    """Feed a script of rows and INVALID markers; the jsonl of every event, summary last."""
    out: list[str] = []
    pending: list[Row] = []

    def flush() -> None:
        if not pending:
            return
        if columns:
            engine.feed_columns(*(list(c) for c in zip(*pending, strict=True)))  # type: ignore[arg-type]
        else:
            engine.feed(list(pending))
        pending.clear()

    lines = 0
    for op in ops:
        lines += 1
        if isinstance(op, str):
            flush()
            engine.add_invalid()
        else:
            pending.append(op)
    flush()
    engine.finish()
    for event in [*engine.drain(), engine.summary(lines)]:
        out.extend(encode(event))
    return out


def engine_run(ops: Sequence[Op], **opts: Any) -> list[dict[str, Any]]:
    """Run a script through the reference engine, record by record, and through the
    batched engine in one batch; both must agree byte for byte. Returns the events."""
    reference = drive(make_engine(batch=False, **opts), ops, columns=False)
    batched = drive(make_engine(batch=True, **opts), ops, columns=True)
    assert batched == reference
    one_by_one = make_engine(batch=True, **opts)
    assert drive_each(one_by_one, ops) == reference
    return [json.loads(line) for line in reference]


def drive_each(engine: Engine, ops: Sequence[Op]) -> list[str]:
    """Like drive, but one feed_columns call per record."""
    out: list[str] = []
    for op in ops:
        if isinstance(op, str):
            engine.add_invalid()
        else:
            engine.feed_columns(*([x] for x in op))  # type: ignore[arg-type]
    engine.finish()
    for event in [*engine.drain(), engine.summary(len(ops))]:
        out.extend(encode(event))
    return out


def stats(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "stats"]


def alerts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "alert"]


# --------------------------------------------------------------- log lines


def csv_line(
    ts: int,
    host: str = "10.0.0.1",
    request: str = "GET /api/user HTTP/1.0",
    status: int | str = 200,
    size: int | str = 100,
) -> str:
    return f'"{host}","-","apache",{ts},"{request}",{status},{size}'


def csv_log(*seconds: int, header: bool = True) -> bytes:
    lines = [CSV_HEADER] if header else []
    lines += [csv_line(ts) for ts in seconds]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def sample_csv() -> bytes:
    return shared_file(SAMPLE_CSV).read_bytes()


@pytest.fixture
def apache_logs() -> bytes:
    return shared_file(APACHE_LOGS).read_bytes()
