"""What every reader shares: the Reader interface and how a Block reaches the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from hitwatch.engine.core import Engine
from hitwatch.model import Block
from hitwatch.sources import Source

Note = Callable[[str], None]
"""Where operator notes go (stderr in the CLI)."""

OnInvalid = Callable[[str, int, str], None]
"""Told of each invalid line: (source name, line number, reason)."""


class Reader(Protocol):
    """Reads one source's blocks of whole lines into the engine."""

    def feed(self, data: bytes) -> int:
        """Parse `data` (whole lines) and feed the engine; returns the number of lines read."""
        ...

    def flush(self) -> int:
        """End of the source: feed anything held back; returns the number of lines."""
        ...

    def read(self, source: Source) -> Iterator[int]:
        """Feed a finite source to its end: the number of lines read, after each block.
        `flush` must still be called afterwards (also when reading failed)."""
        ...


def feed_block(engine: Engine, block: Block, on_invalid: Callable[[int, str], None]) -> None:
    """Give a parsed block to the engine, invalid lines at their place in the input."""
    engine.add_skipped(block.headers, block.empty)
    if not block.invalid:
        engine.feed_columns(*block.columns(), *block.extras())
        return
    done = 0
    for pos, lineno, reason in block.invalid:
        if pos > done:
            engine.feed_columns(*block.columns(done, pos), *block.extras(done, pos))
            done = pos
        engine.add_invalid()
        on_invalid(lineno, reason)
    if done < len(block.ts):
        engine.feed_columns(*block.columns(done), *block.extras(done))
