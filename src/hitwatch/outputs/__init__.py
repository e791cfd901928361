"""Sinks: events in, text for people or JSON lines for machines out."""

from __future__ import annotations

from hitwatch._typing import Protocol
from hitwatch.engine.events import Event, Summary


class Sink(Protocol):
    def emit(self, events: list[Event]) -> None: ...

    def close(self, summary: Summary) -> None: ...
