"""The pure-Python reader: decode, detect the format once, parse, feed the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from hitwatch import formats
from hitwatch.engine.core import Engine
from hitwatch.formats.base import HEADERS, Text
from hitwatch.model import Block
from hitwatch.readers.base import Note, OnInvalid, feed_block
from hitwatch.sources import Source


class SourceReader:
    """Reads one source with the Python parsers (`hitwatch.formats`)."""

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
        self.fmt: formats.Format | None = None  # its parser, once made
        self.lineno = 0
        self._fallback: formats.Format | None = None
        self._held = b""
        self._checked = format_name == "auto"  # a given format: its first lines are checked
        self.parsed = 0  # lines read as records (accepted or late)
        self.failed = 0  # invalid lines
        self._ending = False

    @property
    def unreadable(self) -> bool:
        """Not one line of the source could be read (and some were tried)."""
        return self.failed > 0 and self.parsed == 0

    def deciding(self) -> bool:
        """The format is still to be detected, or a given one to be checked."""
        return (self.fmt_name is None and self.format_name == "auto") or not self._checked

    def feed(self, data: bytes) -> int:
        if self.deciding() and not self.source.live:
            # Detect (or check) from the same first lines however the bytes were
            # cut (SPEC §6): hold blocks back until the sample is complete or the
            # source ends.
            data = self._held + data
            if not _sample_complete(data):
                self._held = data
                return 0
            self._held = b""
        return self._feed(data)

    def flush(self) -> int:
        data, self._held = self._held, b""
        self._ending = True
        return self._feed(data) if data else 0

    def read(self, source: Source) -> Iterator[int]:
        for data in source.blocks():
            yield self.feed(data)

    def _feed(self, data: bytes) -> int:
        block = self.parse(data)
        name = self.source.name

        def invalid(lineno: int, reason: str) -> None:
            self.on_invalid(name, lineno, reason)

        self.parsed += len(block.ts)
        self.failed += len(block.invalid)
        feed_block(self.engine, block, invalid)
        return block.lines

    def parse(self, data: bytes) -> Block:
        text = formats.decode_lines(data, self.lineno + 1)
        fmt = self._format(text)
        block = fmt.parse(text)
        self.lineno += text.count
        return block

    def _format(self, text: Text) -> formats.Format:
        if not self._checked:
            self.check_given(text.lines)
        if self.fmt is None:
            name = self._decide(text.count, lambda: formats.detect_full(text.lines))
            if name is None:
                # Only empty lines or headers so far: any parser counts them alike.
                self._fallback = self._fallback or formats.make("csv")
                return self._fallback
            self.fmt = formats.make(name)
        return self.fmt

    def check_given(self, lines: list[str]) -> None:
        """Once, on the first lines of a source whose format was given: say so
        when not one of them parses with it, and which format would read them."""
        if self._checked:
            return
        if not any(line and line not in HEADERS for line in lines) and not (
            self._ending or len(lines) >= formats.SCAN_LINES
        ):
            return  # nothing to tell by yet
        self._checked = True
        said = formats.mismatch(self.format_name, lines)
        if said:
            self.note(f"{self.source.name}: {said}")

    def _decide(self, nlines: int, detect: Callable[[], formats.Detection]) -> str | None:
        """The format of this source (`fmt_name`), from its first `nlines`
        lines, once `detect` can tell or the format was given; else None."""
        if self.fmt_name is not None:
            return self.fmt_name
        if self.format_name != "auto":
            self.fmt_name = self.format_name
            return self.fmt_name
        found = detect()
        name = found.name
        if name is not None and found.matched:
            self.note(f"{self.source.name}: detected format {name}")
        elif name is not None:
            self.note(f"{self.source.name}: {formats.no_match(found)}")
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
