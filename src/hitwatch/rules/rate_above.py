"""The `high_traffic` alert rule (SPEC §4): a pure state machine over final seconds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate, compress, islice, repeat
from operator import gt, mul, ne, not_, or_, sub

from hitwatch._typing import TYPE_CHECKING
from hitwatch.engine.events import Alert

if TYPE_CHECKING:
    from fractions import Fraction
    from typing import TypeAlias

    Threshold: TypeAlias = int | Fraction
    """Requests per second: an int, or an exact fraction such as 0.1 (no float rounding)."""

NAME = "high_traffic"

Scan = Callable[
    [dict[int, int], int, int, int, int, int, bool, dict[int, int]],
    tuple[list[tuple[int, int]], int, int, dict[int, int]],
]
"""The compiled kernel's `scan` (native/high_traffic.h): `take_seconds` in C."""

_SPAN = 1 << 61
"""Seconds and windows the compiled scan takes (it refuses larger ones)."""


class HighTraffic:
    """Fires while more than `threshold * window` hits fall in `(s - window, s]`.

    The engine calls `on_second` once for every final second, in order, with
    that second's hit count; the rule keeps its own sliding window so that
    several rules with different windows can sit side by side.
    """

    __slots__ = (
        "_den",
        "_hits",
        "_limit",
        "_since",
        "firing",
        "scan",
        "threshold",
        "total",
        "window",
    )

    name = NAME

    def __init__(self, window: int, threshold: Threshold, scan: Scan | None = None) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        if threshold < 0:
            raise ValueError("threshold must not be negative")
        self.window = window
        self.threshold = threshold
        # Compare exactly, as rationals: hits > T*N  <=>  hits*den > num*N.
        self._den = threshold.denominator
        self._limit = threshold.numerator * window
        self._hits: dict[int, int] = {}  # second -> hits, non-zero seconds inside the window
        self.total = 0
        self.firing = False
        self._since = 0
        # The native engine's compiled take_seconds; the pure engine runs without it.
        self.scan = scan if window < _SPAN else None

    @property
    def idle(self) -> bool:
        """True when nothing can change until a second with hits arrives."""
        return self.total == 0 and not self.firing

    def on_second(self, s: int, hits: int) -> Alert | None:
        hits_by_second = self._hits
        if hits:
            hits_by_second[s] = hits
            self.total += hits
        old = hits_by_second.pop(s - self.window, 0)
        if old:
            self.total -= old
        firing = self.total * self._den > self._limit
        if firing == self.firing:
            return None
        self.firing = firing
        return self._alert(firing, s, self.total)

    def _alert(self, firing: bool, s: int, total: int) -> Alert:
        """The alert of a change of state at second `s` (firing, or resolved)."""
        if firing:
            self._since = s
            return Alert(NAME, "firing", s, total, self.window, self.threshold)
        return Alert(NAME, "resolved", s, total, self.window, self.threshold, self._since)

    def take_seconds(
        self, seconds: dict[int, int], first: int, end: int
    ) -> tuple[list[Alert], int]:
        """`on_seconds` for the seconds `first .. end - 1`, their hits taken
        out of the engine's `seconds` (second -> hits; missing is 0). Stops
        where on_seconds stops; the seconds not taken stay in `seconds`.
        Returns the alerts, in order, and how many seconds it took."""
        scan = self.scan
        if scan is None or first <= -_SPAN or end >= _SPAN:
            hits = list(map(seconds.get, range(first, end), repeat(0)))
            done = self.on_seconds(first, hits)
            for _ in map(seconds.pop, range(first, first + done[1]), repeat(0)):
                pass
            return done
        if end <= first:
            return [], 0
        cut = min(self._limit // self._den, _SPAN)
        flips, n, self.total, self._hits = scan(
            seconds, first, end, self.window, cut, self.total, self.firing, self._hits
        )
        # The flips alternate, starting from the state the rule was in.
        alerts: list[Alert] = []
        for s, total in flips:
            self.firing = not self.firing
            alerts.append(self._alert(self.firing, s, total))
        return alerts, n

    def on_seconds(self, first: int, hits: Sequence[int]) -> tuple[list[Alert], int]:
        """`on_second` for the seconds `first, first + 1, ...` with these hits, in
        bulk (C-level loops: a replay has a final second for every second of log).

        Stops before the first second, after the first, that has no hits while
        the rule is idle (the engine skips such stretches itself); returns the
        alerts, in order, and how many seconds it took. The engine calls it
        only when the first second has hits or the rule is not idle.
        """
        n = len(hits)
        if n == 0:
            return [], 0
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
        # Idle before second i (i >= 1) means a total of 0 at i - 1.
        stop = next(
            compress(range(1, n), map(not_, map(or_, islice(hits, 1, None), totals))),
            n,
        )
        if stop < n:
            del totals[stop:]
        den, limit = self._den, self._limit
        firing = list(map(gt, map(mul, totals, repeat(den)), repeat(limit)))
        previous = [self.firing, *firing[:-1]]
        alerts = [
            self._alert(firing[i], first + i, totals[i])
            for i in compress(range(stop), map(ne, firing, previous))
        ]
        self.firing = firing[-1]
        self.total = totals[-1]
        last = first + stop - 1
        keep = last - window  # seconds <= keep have left the window
        kept = {t: h for t, h in old.items() if t > keep}
        for t, h in zip(
            range(max(first, keep + 1), last + 1),
            islice(hits, max(0, keep + 1 - first), stop),
            strict=True,
        ):
            if h:
                kept[t] = h
        self._hits = kept
        return alerts, stop
