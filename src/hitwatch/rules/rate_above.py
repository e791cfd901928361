"""The built-in rule's shape of `rate_above` (SPEC §4): every record counts,
no groups, no `for`. Fires while more than `threshold × window` hits fall in
`(s − window, s]`. The same as `WindowRule` with `rate_above` for such a rule
(tests hold them together), in bulk: the default run's rule goes over every
second of log time."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from itertools import accumulate, compress, islice, repeat
from operator import gt, mul, ne, sub
from typing import Any

from hitwatch.config import RuleSpec
from hitwatch.model import Alert, RuleStatus, Threshold
from hitwatch.rules.selection import Records, Selection, top_of

KIND = "rate_above"


class RateAbove:
    """One sliding window of hits per second, compared exactly with `threshold × window`.

    `evaluate` takes runs of final seconds in bulk with C-level loops (a
    replay has a final second for every second of log time): running totals
    by prefix sums, the state at each second by one comparison each.
    """

    __slots__ = (
        "_den",
        "_limit",
        "_next",
        "_recent",
        "_select",
        "_since",
        "is_firing",
        "name",
        "threshold",
        "total",
        "window",
    )

    kind = KIND
    counts = False  # every record counts: the engine's hits per second

    def __init__(self, name: str, window: int, threshold: Threshold) -> None:
        self._select = Selection(RuleSpec(name, KIND, window, threshold))
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
        # Hits of the `window` seconds before `_next` (None: no second yet, all 0).
        self._recent: deque[int] = deque(repeat(0, window), maxlen=window)
        self._next: int | None = None
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

    @staticmethod
    def fits(spec: RuleSpec) -> bool:
        """Whether a rule of this spec is of the built-in rule's shape."""
        return spec.kind == KIND and not spec.match and spec.group_by is None and not spec.for_

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
        """Every record counts: the engine's hits per second are this rule's."""

    def evaluate(self, first: int, hits: Sequence[int], records: Records) -> list[Alert]:
        n = len(hits)
        if n == 0:
            return []
        window = self.window
        recent = self._recent
        if self._next is not None and first > self._next:
            # Seconds since `_next` had no hits: the engine skips only seconds
            # where the window is empty, and a restored window ends at its
            # newest hit.
            recent.extend(repeat(0, min(first - self._next, window)))
        # The hits leaving the window at each second: from the old window, then
        # from `hits` itself.
        outgoing = list(islice(recent, min(n, window)))
        if n > window:
            outgoing.extend(islice(hits, 0, n - window))
        totals = list(accumulate(map(sub, hits, outgoing), initial=self.total))
        del totals[0]
        firing = list(map(gt, map(mul, totals, repeat(self._den)), repeat(self._limit)))
        previous = [self.is_firing, *firing[:-1]]
        alerts = [
            self._alert(firing[i], first + i, totals[i], records)
            for i in compress(range(n), map(ne, firing, previous))
        ]
        self.is_firing = firing[-1]
        self.total = totals[-1]
        recent.extend(islice(hits, max(0, n - window), n))  # maxlen drops the oldest
        self._next = first + n
        return alerts

    def _alert(self, firing: bool, s: int, total: int, records: Records) -> Alert:
        """The alert of a change of state at second `s` (firing, or resolved)."""
        if firing:
            self._since = s
            top = top_of(self._select, "", records.window(s - self.window + 1, s), KIND)
            return Alert(self.name, KIND, "firing", s, total, self.window, self.threshold, top=top)
        return Alert(
            self.name, KIND, "resolved", s, total, self.window, self.threshold, self._since
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "spec": [KIND, self.window, str(self.threshold)],
            "hits": self._window_hits(),
            "total": self.total,
            "firing": self.is_firing,
            "since": self._since,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if state.get("spec") != [KIND, self.window, str(self.threshold)]:
            return  # configured otherwise since: start afresh
        hits = {int(t): int(h) for t, h in state["hits"]}
        if hits:
            # Seconds between the newest with hits and the last evaluated had
            # none: the window may as well end at the newest.
            self._next = max(hits) + 1
            seconds = range(self._next - self.window, self._next)
            self._recent.extend(map(hits.get, seconds, repeat(0)))
        self.total = state["total"]
        self.is_firing = state["firing"]
        self._since = state["since"]

    def _window_hits(self) -> list[tuple[int, int]]:
        """(second, hits) of the seconds in the window with hits, oldest first."""
        if self._next is None:
            return []
        seconds = range(self._next - self.window, self._next)
        return [(t, h) for t, h in zip(seconds, self._recent, strict=True) if h]

    def firing(self) -> list[str]:
        return [self.name] if self.is_firing else []

    def status(self) -> RuleStatus:
        return RuleStatus(self.name, KIND, self.total, self.window, self.threshold, self.is_firing)
