"""`rate_above` (SPEC §4, §9): fires while more than `threshold × window` hits
fall in the window `(s − window, s]`; the built-in `high_traffic` rule is one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate, compress, islice, repeat
from operator import gt, mul, ne, sub
from typing import Any

from hitwatch.config import RuleSpec
from hitwatch.model import Alert, RuleStatus, Threshold
from hitwatch.render import duration, number

KIND = "rate_above"


class RateAbove:
    """One sliding window of hits per second, compared exactly with `threshold × window`.

    `evaluate` takes runs of final seconds in bulk with C-level loops (a
    replay has a final second for every second of log time): running totals
    by prefix sums, the state at each second by one comparison each.
    """

    __slots__ = (
        "_den",
        "_hits",
        "_limit",
        "_since",
        "is_firing",
        "name",
        "threshold",
        "total",
        "window",
    )

    kind = KIND

    def __init__(self, name: str, window: int, threshold: Threshold) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        if threshold < 0:
            raise ValueError("threshold must not be negative")
        self.name = name
        self.window = window
        self.threshold = threshold
        # Compare exactly, as rationals: hits > T*N  <=>  hits*den > num*N.
        self._den = threshold.denominator
        self._limit = threshold.numerator * window
        self._hits: dict[int, int] = {}  # second -> hits, non-zero seconds inside the window
        self.total = 0
        self.is_firing = False
        self._since = 0

    @classmethod
    def from_spec(cls, spec: RuleSpec) -> RateAbove:
        return cls(spec.name, spec.window, spec.threshold)

    @property
    def horizon(self) -> int:
        # The last hits leave the window `window` seconds later: the total is
        # then 0 and the rule resolved, for good until the next hit.
        return self.window

    def evaluate(self, first: int, hits: Sequence[int]) -> list[Alert]:
        n = len(hits)
        if n == 0:
            return []
        window = self.window
        old = self._hits
        # The hits leaving the window at each second: from the old window, then
        # from `hits` itself.
        outgoing = list(
            map(old.get, range(first - window, first - window + min(n, window)), repeat(0))
        )
        if n > window:
            outgoing.extend(islice(hits, 0, n - window))
        totals = list(accumulate(map(sub, hits, outgoing), initial=self.total))
        del totals[0]
        firing = list(map(gt, map(mul, totals, repeat(self._den)), repeat(self._limit)))
        previous = [self.is_firing, *firing[:-1]]
        alerts = [
            self._alert(firing[i], first + i, totals[i])
            for i in compress(range(n), map(ne, firing, previous))
        ]
        self.is_firing = firing[-1]
        self.total = totals[-1]
        last = first + n - 1
        keep = last - window  # seconds <= keep have left the window
        kept = {t: h for t, h in old.items() if t > keep}
        start = max(first, keep + 1)
        for t, h in zip(range(start, last + 1), islice(hits, start - first, n), strict=True):
            if h:
                kept[t] = h
        self._hits = kept
        return alerts

    def _alert(self, firing: bool, s: int, total: int) -> Alert:
        """The alert of a change of state at second `s` (firing, or resolved)."""
        if firing:
            self._since = s
            return Alert(self.name, KIND, "firing", s, total, self.window, self.threshold)
        return Alert(
            self.name, KIND, "resolved", s, total, self.window, self.threshold, self._since
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "spec": [KIND, self.window, str(self.threshold)],
            "hits": sorted(self._hits.items()),
            "total": self.total,
            "firing": self.is_firing,
            "since": self._since,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if state.get("spec") != [KIND, self.window, str(self.threshold)]:
            return  # configured otherwise since: start afresh
        self._hits = {int(t): int(h) for t, h in state["hits"]}
        self.total = state["total"]
        self.is_firing = state["firing"]
        self._since = state["since"]

    def firing(self) -> list[str]:
        return [self.name] if self.is_firing else []

    def status(self) -> RuleStatus:
        return RuleStatus(self.name, KIND, self.total, self.window, self.threshold, self.is_firing)


def _title(alert: Alert) -> str:
    return "High traffic" if alert.rule == "high_traffic" else f"Rule {alert.rule}"


def text_line(alert: Alert, when: Callable[[int], str]) -> str:
    """SPEC §4's lines; a configured rule is named instead of "High traffic"."""
    rate = f"{alert.hits / alert.window:.2f} req/s over {duration(alert.window)}"
    if alert.state == "firing":
        return (
            f"{_title(alert)} generated an alert - hits = {alert.hits}, triggered at "
            f"{when(alert.ts)} ({rate}, threshold {number(alert.threshold)})"
        )
    since = alert.ts - alert.since_ts if alert.since_ts is not None else 0
    return (
        f"{_title(alert)} alert recovered - hits = {alert.hits}, recovered at "
        f"{when(alert.ts)} ({rate}, after {duration(since)})"
    )
