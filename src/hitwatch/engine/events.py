"""The events the engine emits: plain, immutable values that sinks render.

They are NamedTuples rather than frozen dataclasses: every run defines them at
start-up, where a frozen dataclass costs ~0.6 ms to create and a NamedTuple
~0.1 ms, and making one per interval is four times cheaper.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from hitwatch._typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from hitwatch.rules.high_traffic import Threshold

Ranked = tuple[tuple[str, int], ...]
"""(name, count) pairs, already in display order."""


class Report(NamedTuple):
    """Statistics of one interval `[start_ts, end_ts)` of log time."""

    start_ts: int
    end_ts: int
    hits: int
    bytes: int
    status: Ranked  # by class name: ("2xx", n), ...
    methods: Ranked
    sections: Ranked
    hosts: Ranked
    errors_5xx: int
    late: int
    invalid: int

    @property
    def rate(self) -> float:
        return round(self.hits / (self.end_ts - self.start_ts), 3)

    @property
    def errors(self) -> float:
        return round(self.errors_5xx / self.hits, 4) if self.hits else 0.0

    @property
    def is_empty(self) -> bool:
        return self.hits == 0 and self.late == 0 and self.invalid == 0


class ReportLine(NamedTuple):
    """A Report already written as its JSON line (SPEC §5).

    The native kernel writes the line of a complete interval itself when the
    run's output is jsonl (see `hitwatch.native`): the same bytes the jsonl
    sink writes for the Report it stands for (tests hold them together).
    Only the jsonl sink is ever given one.
    """

    start_ts: int
    end_ts: int
    line: str


class Quiet(NamedTuple):
    """A run of whole, aligned intervals with no hits, late or invalid lines.

    The engine emits this instead of one empty `Report` per interval when it
    can skip a long gap of log time; `reports()` gives the equivalent reports.
    """

    start_ts: int
    end_ts: int
    interval: int

    def reports(self) -> Iterator[Report]:
        for s in range(self.start_ts, self.end_ts, self.interval):
            yield Report(s, s + self.interval, 0, 0, (), (), (), (), 0, 0, 0)


class Alert(NamedTuple):
    """A change of state of an alert rule at final second `ts`."""

    rule: str
    state: str  # "firing" or "resolved"
    ts: int
    hits: int
    window: int
    threshold: Threshold
    since_ts: int | None = None  # for "resolved": when it started firing

    @property
    def rate(self) -> float:
        return round(self.hits / self.window, 3)


class Summary(NamedTuple):
    """Totals at the end of a run; `lines = records + late + invalid + headers + empty`."""

    lines: int
    records: int
    invalid: int
    late: int
    headers: int
    empty: int
    first_ts: int | None
    last_ts: int | None
    alerts: int
    firing: tuple[str, ...]
    max_late: int  # seconds behind M of the latest-arriving late record (0 if none)
    lateness: int
    extra: Mapping[str, object] = MappingProxyType({})


Event = Report | ReportLine | Quiet | Alert | Summary
