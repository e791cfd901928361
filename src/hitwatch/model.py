"""The values every stage shares: records, blocks, thresholds, events, live status.

This module imports no stage of hitwatch. Sources, formats, the engine,
rules and outputs all speak in these types, so that each can be read (and
replaced) on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from types import MappingProxyType
from typing import NamedTuple

# ------------------------------------------------------------------ records

Row = tuple[int, int, str, str, str, str]
"""One accepted line: (ts, bytes, section, host, status, method); the status
is its three digits as written ("404"), 100–599."""

FullRow = tuple[int, int, str, str, str, str, str, float | None]
"""A Row with what some formats add: (..., vhost, duration in seconds or None)."""

Column = Sequence[str]

Columns = tuple[list[int], list[int], list[str], list[str], list[str], list[str]]
"""Accepted lines as columns: ts, bytes, sections, hosts, statuses, methods."""

OTHER = "(other)"
"""The name of whatever is not one thing: a method that is not a method token,
a section of a target that is not a path, the methods past MAX_METHODS."""

MAX_METHODS = 20
"""Methods listed per report; hostile logs can invent any number of them."""

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def status_class(status: str) -> str:
    """ "404" -> "4xx" (a class stays itself)."""
    return f"{status[0]}xx"


MAX_LINE = 64 * 1024
"""Bytes; a longer line is invalid (SPEC §1). Sources cut such a line short."""


class Block:
    """The parse of a block of lines, as columns, in reading order.

    Accepted line i is `ts[i], nbytes[i], sections[i], hosts[i], statuses[i],
    methods[i]`. `invalid` holds (position among the accepted lines it came
    before, line number, reason), so the engine sees invalid lines at the right
    moment of the input.

    Formats that know the virtual host or the request's duration fill
    `vhosts` and `durations` too, one entry per accepted line (None: this
    line has no duration); for the others these stay empty.
    """

    __slots__ = (
        "durations",
        "empty",
        "headers",
        "hosts",
        "invalid",
        "lines",
        "methods",
        "nbytes",
        "sections",
        "statuses",
        "ts",
        "vhosts",
    )

    def __init__(self, lines: int = 0) -> None:
        self.ts: list[int] = []
        self.nbytes: list[int] = []
        self.sections: list[str] = []
        self.hosts: list[str] = []
        self.statuses: list[str] = []
        self.methods: list[str] = []
        self.vhosts: list[str] = []
        self.durations: list[float | None] = []
        self.invalid: list[tuple[int, int, str]] = []
        self.headers = 0
        self.empty = 0
        self.lines = lines

    @classmethod
    def of(
        cls,
        ts: list[int],
        nbytes: list[int],
        sections: Sequence[str],
        hosts: Sequence[str],
        statuses: Sequence[str],
        methods: Sequence[str],
        lines: int,
    ) -> Block:
        block = cls(lines)
        block.ts = ts
        block.nbytes = nbytes
        block.sections = list(sections)
        block.hosts = list(hosts)
        block.statuses = list(statuses)
        block.methods = list(methods)
        return block

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Block):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Block({fields})"

    @property
    def rows(self) -> list[Row]:
        return list(zip(*self.columns(), strict=True))

    def columns(self, a: int = 0, b: int | None = None) -> Columns:
        """The accepted lines `a:b` as the engine's `feed_columns` takes them."""
        if a == 0 and b is None:
            return (self.ts, self.nbytes, self.sections, self.hosts, self.statuses, self.methods)
        return (
            self.ts[a:b],
            self.nbytes[a:b],
            self.sections[a:b],
            self.hosts[a:b],
            self.statuses[a:b],
            self.methods[a:b],
        )

    def extras(
        self, a: int = 0, b: int | None = None
    ) -> tuple[list[str] | None, list[float | None] | None]:
        """The virtual hosts and durations of the accepted lines `a:b`, each None
        when the format has none."""
        vhosts = self.vhosts[a:b] if self.vhosts else None
        durations = self.durations[a:b] if self.durations else None
        return vhosts, durations

    def add(self, row: Row) -> None:
        self.ts.append(row[0])
        self.nbytes.append(row[1])
        self.sections.append(row[2])
        self.hosts.append(row[3])
        self.statuses.append(row[4])
        self.methods.append(row[5])

    def add_full(self, row: FullRow) -> None:
        self.add(row[:6])
        self.vhosts.append(row[6])
        self.durations.append(row[7])


# --------------------------------------------------------------- thresholds

Threshold = int | Fraction
"""Requests per second (or a ratio): an int, or an exact fraction such as 0.1.
Never a binary float: `hits > T × N` is compared exactly (SPEC §4)."""


# ------------------------------------------------------------------- events

Ranked = tuple[tuple[str, int], ...]
"""(name, count) pairs, already in display order."""


class Latency(NamedTuple):
    """Request durations of an interval, in seconds: nearest-rank percentiles
    over its records that have one, and the largest."""

    p50: float
    p95: float
    p99: float
    max: float
    records: int  # records with a duration


def latency_of(durations: Sequence[float]) -> Latency | None:
    """The nearest-rank percentiles (the value at rank ⌈p·n⌉ of the sorted n)."""
    if not durations:
        return None
    d = sorted(durations)
    n = len(d)

    def rank(p: int) -> float:
        return d[max(0, -(-p * n // 100) - 1)]

    return Latency(rank(50), rank(95), rank(99), d[-1], n)


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
    vhosts: Ranked = ()  # for formats with a virtual host
    latency: Latency | None = None  # for formats with request durations

    @property
    def rate(self) -> float:
        return round(self.hits / (self.end_ts - self.start_ts), 3)

    @property
    def errors(self) -> float:
        return round(self.errors_5xx / self.hits, 4) if self.hits else 0.0

    @property
    def is_empty(self) -> bool:
        return self.hits == 0 and self.late == 0 and self.invalid == 0


def empty_report(start_ts: int, end_ts: int) -> Report:
    return Report(start_ts, end_ts, 0, 0, (), (), (), (), 0, 0, 0)


class Quiet(NamedTuple):
    """A run of whole, aligned intervals with no hits, late or invalid lines.

    The engine emits this instead of one empty `Report` per interval when it
    skips a long gap of log time; `reports()` gives the equivalent reports.
    """

    start_ts: int
    end_ts: int
    interval: int

    def reports(self) -> Iterator[Report]:
        for s in range(self.start_ts, self.end_ts, self.interval):
            yield empty_report(s, s + self.interval)


class Top(NamedTuple):
    """What a firing alert's window holds most (SPEC §9): up to 3 names each,
    by hits then name; the rule's grouped dimension is left out (None)."""

    sections: Ranked | None
    hosts: Ranked | None
    status: Ranked | None  # by class ("5xx")
    total: int  # the records these are shares of


class Alert(NamedTuple):
    """A change of state of an alert rule (of one group key) at final second `ts`."""

    rule: str
    kind: str  # the rule's kind (see hitwatch.rules): what its numbers mean
    state: str  # "firing" or "resolved"
    ts: int
    hits: int  # counted records in the window
    window: int
    threshold: Threshold
    since_ts: int | None = None  # for "resolved": when it started firing
    group: tuple[str, str] | None = None  # (dimension, key) of a grouped rule
    errors: int | None = None  # error_ratio_above: error records in the window
    top: Top | None = None  # on "firing"
    quantile: Fraction | None = None  # latency_above: the quantile it watches...
    latency: float | None = None  # ...and its value in the window, in seconds

    @property
    def rate(self) -> float:
        return round(self.hits / self.window, 3)

    @property
    def ratio(self) -> float:
        """errors / hits, 4 places (0 without hits)."""
        return round((self.errors or 0) / self.hits, 4) if self.hits else 0.0

    @property
    def label(self) -> str:
        """`rule` or `rule{dimension=key}`: how the summary names what fires."""
        if self.group is None:
            return self.rule
        return f"{self.rule}{{{self.group[0]}={self.group[1]}}}"


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


Event = Report | Quiet | Alert | Summary


# ------------------------------------------------------------- live status


class RuleStatus(NamedTuple):
    """Where one alert rule stands, for live displays."""

    name: str
    kind: str
    window_hits: int  # counted records in the window now
    window: int
    threshold: Threshold
    firing: bool

    @property
    def rate(self) -> float:
        return self.window_hits / self.window if self.window else 0.0


class Status(NamedTuple):
    """What a live display shows besides the events."""

    mode: str
    sources: tuple[str, ...]
    log_time: int | None  # M, the newest log time read (or reached by the idle clock)
    final: int | None  # the last final second
    lines: int
    lines_per_s: float
    records: int
    late: int
    invalid: int
    idle: bool  # the idle clock is moving log time
    rules: tuple[RuleStatus, ...] = ()

    @property
    def firing(self) -> bool:
        return any(rule.firing for rule in self.rules)
