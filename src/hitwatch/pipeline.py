"""The imperative shell that wires sources -> formats -> engine -> sinks.

Everything with a side effect (reading, the stderr notes, writing events)
happens here or in the sinks; the engine only ever sees rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from hitwatch import formats
from hitwatch._typing import Protocol
from hitwatch.engine.core import Engine
from hitwatch.formats import Block, Format
from hitwatch.formats.base import HEADERS
from hitwatch.sinks import Sink
from hitwatch.sources import Source

Note = Callable[[str], None]
"""Where operator notes go (stderr in the CLI)."""

OnInvalid = Callable[[str, int, str], None]
"""Told of each invalid line: (source name, line number, reason)."""


def feed_block(engine: Engine, block: Block, on_invalid: Callable[[int, str], None]) -> None:
    """Give a parsed block to the engine, invalid lines at their place in the input."""
    engine.add_skipped(block.headers, block.empty)
    if not block.invalid:
        engine.feed_columns(*block.columns())
        return
    done = 0
    for pos, lineno, reason in block.invalid:
        if pos > done:
            engine.feed_columns(*block.columns(done, pos))
            done = pos
        engine.add_invalid()
        on_invalid(lineno, reason)
    if done < len(block.ts):
        engine.feed_columns(*block.columns(done))


class Reader(Protocol):
    """Reads one source's blocks of whole lines into the engine."""

    def feed(self, data: bytes) -> int:
        """Parse `data` and feed the engine; returns the number of lines read."""
        ...

    def flush(self) -> int:
        """End of the source: feed anything held back; returns the number of lines."""
        ...

    def read(self, source: Source) -> Iterator[int]:
        """Feed a finite source to its end: the number of lines read, after each block.
        `flush` must still be called afterwards (also when reading failed)."""
        ...


class SourceReader:
    """The pure-Python reader: decode, detect the format once, parse, feed."""

    # Plain classes, not dataclasses, here and in sources and native: importing
    # dataclasses (and inspect) cost a run ~7 ms of start-up.
    def __init__(
        self,
        source: Source,
        format_name: str,
        note: Note,
        engine: Engine,
        on_invalid: OnInvalid,
    ) -> None:
        self.source = source
        self.format_name = format_name
        self.note = note
        self.engine = engine
        self.on_invalid = on_invalid
        self.fmt_name: str | None = None  # the format, once decided
        self.fmt: Format | None = None  # its parser, once made
        self.lineno = 0
        self._fallback: Format | None = None
        self._held = b""

    def feed(self, data: bytes) -> int:
        if self.fmt_name is None and self.format_name == "auto" and not self.source.live:
            # Detect from the same first lines however the bytes were cut (SPEC §6):
            # hold blocks back until the sample is complete or the source ends.
            data = self._held + data
            if not _sample_complete(data):
                self._held = data
                return 0
            self._held = b""
        return self._feed(data)

    def flush(self) -> int:
        data, self._held = self._held, b""
        return self._feed(data) if data else 0

    def read(self, source: Source) -> Iterator[int]:
        for data in source.blocks():
            yield self.feed(data)

    def _feed(self, data: bytes) -> int:
        block = self.parse(data)
        name = self.source.name

        def invalid(lineno: int, reason: str) -> None:
            self.on_invalid(name, lineno, reason)

        feed_block(self.engine, block, invalid)
        return block.lines

    def parse(self, data: bytes) -> Block:
        text = formats.decode_lines(data, self.lineno + 1)
        fmt = self._format(text.lines)
        block = fmt.parse(text)
        self.lineno += len(text.lines)
        return block

    def _format(self, lines: list[str]) -> Format:
        if self.fmt is None:
            name = self._decide(len(lines), lambda: formats.detect(lines))
            if name is None:
                # Only empty lines or headers so far: any parser counts them alike.
                self._fallback = self._fallback or formats.make("csv")
                return self._fallback
            self.fmt = formats.make(name)
        return self.fmt

    def _decide(self, nlines: int, detect: Callable[[], str | None]) -> str | None:
        """The format of this source (`fmt_name`), from its first `nlines`
        lines, once `detect` can tell or the format was given; else None."""
        if self.fmt_name is not None:
            return self.fmt_name
        if self.format_name != "auto":
            self.fmt_name = self.format_name
            return self.fmt_name
        name = detect()
        if name is not None:
            self.note(f"{self.source.name}: detected format {name}")
        elif nlines >= formats.SCAN_LINES:
            # Nothing but empty lines and headers where detection looks:
            # decide once, so the result does not depend on block sizes.
            name = "csv"
            self.note(
                f"{self.source.name}: no log line in the first {formats.SCAN_LINES} lines; "
                "assuming format csv"
            )
        self.fmt_name = name
        return name


def _sample_complete(data: bytes) -> bool:
    """True when `data` (whole lines) holds every line `formats.detect` looks at."""
    if data.count(b"\n") >= formats.SCAN_LINES:
        return True
    lines = formats.decode_lines(data).lines
    return sum(1 for line in lines if line and line not in HEADERS) >= formats.SAMPLE_LINES


def make_reader(
    source: Source,
    format_name: str,
    engine: Engine,
    note: Note,
    on_invalid: OnInvalid,
    *,
    engine_name: str = "auto",
    report_lines: bool = False,
) -> Reader:
    """The reader for one source.

    `engine_name`: `python` is the pure reader; `native` the compiled kernel
    (hitwatch.native); `auto` the kernel when it is built, else the pure one.
    Both give the same events (SPEC §6). `report_lines`: the only sink is
    jsonl, so the kernel may hand over reports as their JSON lines
    (ReportLine events).
    """
    if engine_name != "python":
        from hitwatch import native

        if native.available() and native.supports(engine.interval, engine.lateness):
            return native.NativeReader(
                source, format_name, note, engine, on_invalid, report_lines=report_lines
            )
        if engine_name == "native" and not native.available():
            raise RuntimeError(f"the compiled kernel is not available: {native.why_not()}")
    return SourceReader(source, format_name, note, engine, on_invalid)


class Run:
    """Counts the shell keeps beside the engine."""

    def __init__(self) -> None:
        self.lines = 0
        self.errors: list[str] = []
        self.interrupted = False


def run(
    sources: Iterable[Source],
    format_name: str,
    engine: Engine,
    sink: Sink,
    note: Note,
    on_invalid: OnInvalid,
    *,
    engine_name: str = "auto",
    report_lines: bool = False,
) -> Run:
    """Read every source to its end, then finish the engine and close the sink.

    A source that fails part-way is reported and the run goes on with the
    next; `Run.errors` tells the caller to exit non-zero. `report_lines`:
    `sink` is jsonl (see make_reader).
    """
    from hitwatch.sources import SourceError

    state = Run()
    try:
        for source in sources:
            reader = make_reader(
                source,
                format_name,
                engine,
                note,
                on_invalid,
                engine_name=engine_name,
                report_lines=report_lines,
            )
            try:
                for lines in reader.read(source):
                    state.lines += lines
                    sink.emit(engine.drain())
            except SourceError as exc:
                state.errors.append(str(exc))
                note(f"error: {exc}")
            finally:
                source.close()
            state.lines += reader.flush()
            sink.emit(engine.drain())
        engine.finish()
    except KeyboardInterrupt:
        # Show what was already final, and the totals, but finalise nothing more.
        state.interrupted = True
    sink.emit(engine.drain())
    sink.close(engine.summary(state.lines))
    return state
