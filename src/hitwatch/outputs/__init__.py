"""Outputs: events in, something for people or machines out.

An output is one module with a class that has `emit(events)` and
`close(summary)` (the `Output` interface) and a factory registered in
`OUTPUTS`. `build` makes the outputs a run asks for (`--output KIND[:FILE]`)
and fans the events out to all of them, in order.

Live runs also use what an output may offer besides: `tick(status)` (it
shows the live status: the dashboard), `flush_quiet()` (it holds back runs of
empty intervals: text) and `start()`/`stop()`/`note()` (it takes over the
terminal: the dashboard).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, TextIO, runtime_checkable

from hitwatch.config import OutputSpec
from hitwatch.model import Event, Status, Summary
from hitwatch.outputs.jsonl import JsonlSink
from hitwatch.outputs.text import TextSink


class Output(Protocol):
    def emit(self, events: list[Event]) -> None: ...

    def close(self, summary: Summary) -> None: ...


@runtime_checkable
class Ticking(Protocol):
    """An output that shows the live status; `tick` returns False to ask to stop."""

    def tick(self, status: Status) -> bool: ...


@runtime_checkable
class QuietFlushing(Protocol):
    """An output that holds back runs of empty intervals and can write them now."""

    def flush_quiet(self) -> None: ...


@runtime_checkable
class Screen(Protocol):
    """An output that takes over the terminal (the dashboard) and shows notes itself."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def note(self, text: str) -> None: ...


class Context(NamedTuple):
    """What outputs are made for: how times are shown, whether the run is live
    (flush after every batch of events; a terminal may get the dashboard)."""

    local: bool = False
    live: bool = False
    dashboard: bool = False  # the text output on a terminal in live mode is the dashboard
    interval: int = 10
    stdout: TextIO = sys.stdout


Factory = Callable[[TextIO, Context], Output]


def _text(out: TextIO, ctx: Context) -> Output:
    if ctx.dashboard and out is ctx.stdout and out.isatty():
        from hitwatch.outputs.dashboard import Dashboard  # rich: only for a terminal

        return Dashboard(interval=ctx.interval, local=ctx.local, out=out)
    return TextSink(out, local=ctx.local, flush=ctx.live)


def _jsonl(out: TextIO, ctx: Context) -> Output:
    return JsonlSink(out, flush=ctx.live, quiet=not ctx.live)


OUTPUTS: dict[str, Factory] = {"text": _text, "jsonl": _jsonl}
"""Output kinds by name: a factory of the output writing to a text stream."""


class FanOut:
    """Several outputs as one: each is given every event and the summary, in order."""

    def __init__(self, outputs: Sequence[Output], files: Sequence[TextIO] = ()) -> None:
        self.outputs = list(outputs)
        self._files = list(files)  # opened for the outputs; closed with them

    def emit(self, events: list[Event]) -> None:
        for output in self.outputs:
            output.emit(events)

    def close(self, summary: Summary) -> None:
        try:
            for output in self.outputs:
                output.close(summary)
        finally:
            for f in self._files:
                f.close()

    def tick(self, status: Status) -> bool:
        go_on = True
        for output in self.outputs:
            if isinstance(output, Ticking):
                go_on = output.tick(status) and go_on
        return go_on

    def flush_quiet(self) -> None:
        for output in self.outputs:
            if isinstance(output, QuietFlushing):
                output.flush_quiet()

    @property
    def screen(self) -> Screen | None:
        return next((o for o in self.outputs if isinstance(o, Screen)), None)


def build(specs: Sequence[OutputSpec], ctx: Context) -> FanOut:
    """The outputs of a run. Raises OSError when a file cannot be opened."""
    outputs: list[Output] = []
    files: list[TextIO] = []
    try:
        for spec in specs:
            if spec.path is None:
                out = ctx.stdout
            else:
                out = open(spec.path, "w", encoding="utf-8")  # noqa: SIM115 - FanOut closes it
                files.append(out)
            outputs.append(OUTPUTS[spec.kind](out, ctx))
    except BaseException:
        for f in files:
            f.close()
        raise
    return FanOut(outputs, files)
