"""What the configured rule kinds share (SPEC §9): matching, groups, windows, `for`, `top`.

A `WindowRule` counts the records its `match` selects, per final second and
per group key (one key, "", when it is not grouped), and keeps for each key a
sliding window of `(hits, errors)` over `(s − N, s]`. Its kind gives the
condition (`rate_above`, `rate_below`, `error_ratio_above`). Evaluation is
driven by events: a key is looked at in a second when it has hits then, when
hits leave its window, when a `for` delay ends or when `rate_below` starts to
apply; between those its condition cannot change. Pure: the engine feeds the
records (`count`) and the final seconds (`evaluate`).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from heapq import heappop, heappush
from itertools import compress, repeat
from operator import and_, eq, itemgetter
from typing import Any, Protocol

from hitwatch.config import RuleSpec
from hitwatch.model import OTHER, Alert, Ranked, RuleStatus, Threshold, Top, status_class

Record = tuple[str, str, str, str]
"""(section, host, method, status) of an accepted record."""

TOP = 3
"""Names per dimension in a firing alert's `top`."""


class Records(Protocol):
    """The accepted records of recent seconds, which the engine keeps for `top`."""

    def window(
        self, first: int, last: int
    ) -> tuple[list[str], list[str], list[str], list[str], list[str], list[int] | None]:
        """(sections, hosts, methods, statuses, vhosts, weights) of the records with
        ts in [first, last]: row i stands for weights[i] records (one if None)."""
        ...


def statuses_of(values: Iterable[str]) -> frozenset[str]:
    """The three-digit statuses that `5xx` or `404` values name."""
    out: set[str] = set()
    for value in values:
        if value.endswith("xx"):
            out.update(str(n) for n in range(int(value[0]) * 100, int(value[0]) * 100 + 100))
        else:
            out.add(value)
    return frozenset(out)


_COLUMN = {"section": 0, "host": 1, "method": 2, "status": 3, "vhost": 4}


class Selection:
    """A rule's `match`, `group_by` and `errors`, compiled."""

    def __init__(self, spec: RuleSpec) -> None:
        self.match = [
            (_COLUMN[dim], statuses_of(values) if dim == "status" else frozenset(values))
            for dim, values in spec.match
        ]
        self.group = spec.group_by
        self.key_column = _COLUMN[spec.group_by] if spec.group_by else None
        self.errors = statuses_of(spec.errors)

    def pick(self, columns: Sequence[Sequence[str]], key: str | None = None) -> list[bool] | None:
        """Which records of these (section, host, method, status) columns the rule
        counts (for group `key` when given); None: all of them. C-level loops."""
        pick: list[bool] | None = None
        for col, accepted in self.match:
            keep = list(map(accepted.__contains__, columns[col]))
            pick = keep if pick is None else list(map(and_, pick, keep))
        if key is not None and self.key_column is not None:
            keep = list(map(eq, columns[self.key_column], repeat(key)))
            pick = keep if pick is None else list(map(and_, pick, keep))
        return pick


class KeyState:
    """One group key's window and alert state."""

    __slots__ = ("durations", "errs", "firing", "first", "held_since", "hits", "since", "window")

    def __init__(self, first: int) -> None:
        self.first = first  # its first second (the timeline's start when ungrouped)
        # (second, hits, errors, durations of its records): the window's seconds
        self.window: deque[tuple[int, int, int, tuple[float, ...]]] = deque()
        self.durations: list[float] = []  # latency_above: the window's, sorted
        self.hits = 0
        self.errs = 0
        self.held_since: int | None = None  # the condition has held since then
        self.firing = False
        self.since = 0  # when it fired

    def snapshot(self) -> list[Any]:
        return [
            self.first, [[s, h, e, list(d)] for s, h, e, d in self.window], self.hits,
            self.errs, self.held_since, self.firing, self.since,
        ]  # fmt: skip

    @classmethod
    def from_snapshot(cls, value: Sequence[Any]) -> KeyState:
        first, window, hits, errs, held_since, firing, since = value
        state = cls(first)
        state.window = deque((int(s), int(h), int(e), tuple(d)) for s, h, e, d in window)
        state.durations = sorted(x for *_, d in state.window for x in d)
        state.hits, state.errs = hits, errs
        state.held_since, state.firing, state.since = held_since, firing, since
        return state


Condition = Callable[["WindowRule", KeyState, int], bool]


class WindowRule:
    """A configured rule; `condition(rule, key state, second)` is its kind's test."""

    counts = True

    @property
    def latency(self) -> bool:
        return self.kind == "latency_above"

    def __init__(self, spec: RuleSpec, condition: Condition) -> None:
        self.spec = spec
        self.name = spec.name
        self.kind = spec.kind
        self.window = spec.window
        self.threshold: Threshold = spec.threshold
        # Compared exactly, as rationals: hits > T*N  <=>  hits*den > num*N.
        self.den = spec.threshold.denominator
        self.num = spec.threshold.numerator
        self.limit = self.num * spec.window
        self.condition = condition
        self.select = Selection(spec)
        self._pending: dict[int, dict[str, list[int]]] = {}  # non-final second -> key -> [h, e]
        self._keys: dict[str, KeyState] = {}  # tracked keys, in the order they came
        self._due: dict[int, set[str]] = {}  # second -> keys to look at then
        self._events: list[int] = []  # heap of the seconds in _pending or _due
        self._start: int | None = None  # the timeline's start, once seen

    # ------------------------------------------------------------ counting

    @property
    def horizon(self) -> int:
        return self.window + self.spec.for_

    @property
    def closed(self) -> bool:
        """No key can be tracked any more (max_groups reached)."""
        return self.select.group is not None and len(self._keys) >= self.spec.max_groups

    def count(
        self,
        ts: Sequence[int],
        sections: Sequence[str],
        hosts: Sequence[str],
        methods: Sequence[str],
        statuses: Sequence[str],
        vhosts: Sequence[str] | None = None,
        durations: Sequence[float | None] | None = None,
    ) -> None:
        """Count accepted records (not late), in any order within what is not final."""
        columns = (sections, hosts, methods, statuses, vhosts or [""] * len(ts))
        if self.latency:
            self._count_durations(ts, columns, durations)
            return
        pick = self.select.pick(columns)
        keys: Iterable[str] | None = None
        if self.select.key_column is not None:
            keys = columns[self.select.key_column]
            if self.closed:  # records of keys not tracked count for nothing
                keep = list(map(self._keys.__contains__, keys))
                pick = keep if pick is None else list(map(and_, pick, keep))
        if pick is not None:
            ts = list(compress(ts, pick))
            statuses = list(compress(statuses, pick))
            if keys is not None:
                keys = list(compress(keys, pick))
        errs = map(self.select.errors.__contains__, statuses)
        counts = Counter(zip(ts, keys if keys is not None else [""] * len(ts), errs, strict=True))
        pending = self._pending
        for (t, key, err), n in counts.items():
            keys = pending.get(t)
            if keys is None:
                keys = pending[t] = {}
                heappush(self._events, t)
            slot = keys.setdefault(key, [0, 0])
            slot[0] += n
            if err:
                slot[1] += n

    def _count_durations(
        self,
        ts: Sequence[int],
        columns: Sequence[Sequence[str]],
        durations: Sequence[float | None] | None,
    ) -> None:
        """`count` for latency_above: the durations themselves, per second and key."""
        if durations is None:
            return  # records without durations do not count for it
        pick = self.select.pick(columns)
        keys = columns[self.select.key_column] if self.select.key_column is not None else None
        for i in range(len(ts)) if pick is None else compress(range(len(ts)), pick):
            d = durations[i]
            if d is None:
                continue
            key = "" if keys is None else keys[i]
            if keys is not None and self.closed and key not in self._keys:
                continue
            t = ts[i]
            slot = self._pending.get(t)
            if slot is None:
                slot = self._pending[t] = {}
                heappush(self._events, t)
            got = slot.setdefault(key, [0, 0])
            got[0] += 1
            got.append(d)  # type: ignore[arg-type]  # [hits, errs, durations...]

    # ---------------------------------------------------------- evaluating

    def evaluate(self, first: int, hits: Sequence[int], records: Records) -> list[Alert]:
        end = first + len(hits)
        if self._start is None:
            self._start = first
            if self.select.group is None:
                self._keys[""] = KeyState(first)
                self._schedule("", self._keys[""], first - 1)
        events = self._events
        alerts: list[Alert] = []
        while events and events[0] < end:
            s = heappop(events)
            while events and events[0] == s:
                heappop(events)
            alerts += self._second(s, records)
        return alerts

    def _second(self, s: int, records: Records) -> list[Alert]:
        incoming = self._pending.pop(s, None)
        look = self._due.pop(s, None)
        tracked = self._keys
        todo: Iterable[str] = look or ()
        if incoming is not None:
            room = self.spec.max_groups - len(tracked)
            if self.select.group is not None and room > 0:
                new = sorted(k for k in incoming if k not in tracked)
                for key in new[:room]:
                    tracked[key] = KeyState(s)
            for key, got in incoming.items():
                state = tracked.get(key)
                if state is None:
                    continue  # not tracked
                durations = tuple(got[2:])  # latency_above's
                state.window.append((s, got[0], got[1], durations))
                state.hits += got[0]
                state.errs += got[1]
                for d in durations:
                    insort(state.durations, d)
            todo = incoming.keys() | look if look else incoming.keys()
        alerts: list[tuple[str, Alert]] = []
        for key in todo:
            state = tracked.get(key)
            if state is None:
                continue
            alert = self._look(key, state, s, records)
            if alert is not None:
                alerts.append((key, alert))
            self._schedule(key, state, s)
        if len(alerts) > 1:
            alerts.sort(key=itemgetter(0))  # SPEC §9: in order of key names
        return [alert for _, alert in alerts]

    def _look(self, key: str, state: KeyState, s: int, records: Records) -> Alert | None:
        window = state.window
        gone = s - self.window
        while window and window[0][0] <= gone:
            _, h, e, durations = window.popleft()
            state.hits -= h
            state.errs -= e
            for d in durations:
                del state.durations[bisect_left(state.durations, d)]
        if not self.condition(self, state, s):
            state.held_since = None
            if state.firing:
                state.firing = False
                return self._alert("resolved", key, state, s, state.since)
            return None
        if state.held_since is None:
            state.held_since = s
        if not state.firing and s - state.held_since >= self.spec.for_:
            state.firing = True
            state.since = s
            return self._alert("firing", key, state, s, None, self._top(key, s, records))
        return None

    def _schedule(self, key: str, state: KeyState, s: int) -> None:
        """When to look at `key` again if no hits come: the first second after
        `s` at which its condition or its `for` delay may change."""
        when = state.window[0][0] + self.window if state.window else None  # hits leave
        if state.held_since is not None and not state.firing:
            end = state.held_since + self.spec.for_  # the delay ends
            if end > s and (when is None or end < when):
                when = end
        ready = state.first + self.window - 1  # rate_below applies from then
        if ready > s and (when is None or ready < when):
            when = ready
        if when is not None:
            due = self._due.get(when)
            if due is None:
                due = self._due[when] = set()
                heappush(self._events, when)
            due.add(key)

    def _alert(
        self, state_name: str, key: str, state: KeyState, s: int, since: int | None,
        top: Top | None = None,
    ) -> Alert:  # fmt: skip
        group = None if self.select.group is None else (self.select.group, key)
        errors = state.errs if self.kind == "error_ratio_above" else None
        quantile = latency = None
        if self.latency:
            quantile = self.spec.quantile
            latency = nearest_rank(state.durations, quantile)
        return Alert(
            self.name, self.kind, state_name, s, state.hits, self.window, self.threshold,
            since, group, errors, top, quantile, latency,
        )  # fmt: skip

    def _top(self, key: str, s: int, records: Records) -> Top:
        return top_of(self.select, key, records.window(s - self.window + 1, s), self.kind)

    # ------------------------------------------------------------ the rest

    def firing(self) -> list[str]:
        group = self.select.group
        return [
            self.name if group is None else f"{self.name}{{{group}={key}}}"
            for key, state in sorted(self._keys.items())
            if state.firing
        ]

    def status(self) -> RuleStatus:
        firing = any(state.firing for state in self._keys.values())
        hits = max((state.hits for state in self._keys.values()), default=0)
        return RuleStatus(self.name, self.kind, hits, self.window, self.threshold, firing)

    def snapshot(self) -> dict[str, Any]:
        return {
            "spec": spec_key(self.spec),
            "pending": [[t, keys] for t, keys in sorted(self._pending.items())],
            "keys": [[key, state.snapshot()] for key, state in self._keys.items()],
            "due": [[t, sorted(keys)] for t, keys in sorted(self._due.items())],
            "start": self._start,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if state.get("spec") != spec_key(self.spec):
            return
        self._pending = {
            int(t): {k: list(v) for k, v in keys.items()} for t, keys in state["pending"]
        }
        self._keys = {key: KeyState.from_snapshot(value) for key, value in state["keys"]}
        self._due = {int(t): set(keys) for t, keys in state["due"]}
        self._events = sorted({*self._pending, *self._due})
        self._start = state["start"]


def top_of(
    select: Selection,
    key: str,
    window: tuple[
        Sequence[str],
        Sequence[str],
        Sequence[str],
        Sequence[str],
        Sequence[str],
        Sequence[int] | None,
    ],
    kind: str,
) -> Top:
    """SPEC §9's `top` of a firing: of the window's records (`Records.window`),
    those the rule counts for `key` (its error records for error_ratio_above)."""
    *columns, weights = window
    pick = select.pick(columns, key)
    if kind == "error_ratio_above":
        errors = list(map(select.errors.__contains__, columns[3]))
        pick = errors if pick is None else list(map(and_, pick, errors))

    def count(column: Sequence[str]) -> Counter[str]:
        values = column if pick is None else compress(column, pick)
        if weights is None:
            return Counter(values)
        counts: Counter[str] = Counter()
        for value, n in zip(
            values, weights if pick is None else compress(weights, pick), strict=True
        ):
            counts[value] += n
        return counts

    sections = count(columns[0])
    hosts = count(columns[1])
    classes: Counter[str] = Counter()
    for status, n in count(columns[3]).items():
        classes[status_class(status)] += n
    group = select.group
    return Top(
        None if group == "section" else rank(sections, TOP),
        None if group == "host" else rank(hosts, TOP),
        None if group == "status" else rank(classes, TOP),
        sum(classes.values()),
    )


def rank(counts: Mapping[str, int], limit: int) -> Ranked:
    """The `limit` largest counts, ties by name."""
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit])


def spec_key(spec: RuleSpec) -> list[Any]:
    """What a saved state must have been made with to be taken back."""
    return [
        spec.kind, spec.window, str(spec.threshold), spec.for_,
        [[dim, list(values)] for dim, values in spec.match], spec.group_by,
        spec.max_groups, list(spec.errors), spec.min_hits, str(spec.quantile),
    ]  # fmt: skip


# ------------------------------------------------------------------ the kinds
# threshold T, window N; all compared exactly, as rationals.


def rate_above(rule: WindowRule, state: KeyState, s: int) -> bool:
    return state.hits * rule.den > rule.limit


def rate_below(rule: WindowRule, state: KeyState, s: int) -> bool:
    if s < state.first + rule.window - 1:
        return False  # not a whole window in the timeline yet
    return state.hits * rule.den < rule.limit


def nearest_rank(values: Sequence[float], q: Fraction) -> float | None:
    """The value at rank ⌈q·n⌉ (from 1) of the sorted `values`; None when empty."""
    n = len(values)
    if n == 0:
        return None
    rank = -(-q.numerator * n // q.denominator)  # ⌈q·n⌉, exactly
    return values[max(1, rank) - 1]


def latency_above(rule: WindowRule, state: KeyState, s: int) -> bool:
    """At least min_hits (and one) records with a duration, and the quantile of
    their durations above the threshold in seconds. A duration is compared as
    the shortest decimal that writes it (its repr), which is what the parsers
    read from the log: 0.1 s is not above a threshold of 0.1."""
    if state.hits < max(1, rule.spec.min_hits):
        return False
    value = nearest_rank(state.durations, rule.spec.quantile)
    return value is not None and Fraction(repr(value)) > rule.threshold


def error_ratio_above(rule: WindowRule, state: KeyState, s: int) -> bool:
    hits = state.hits
    return hits >= rule.spec.min_hits and state.errs * rule.den > rule.num * hits


__all__ = ["OTHER", "Records", "WindowRule", "error_ratio_above", "rate_above", "rate_below"]
