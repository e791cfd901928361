"""The `high_traffic` alert rule (SPEC §4): a pure state machine over final seconds."""

from __future__ import annotations

from fractions import Fraction

from hitwatch.engine.events import Alert

NAME = "high_traffic"


class HighTraffic:
    """Fires while more than `threshold * window` hits fall in `(s - window, s]`.

    The engine calls `on_second` once for every final second, in order, with
    that second's hit count; the rule keeps its own sliding window so that
    several rules with different windows can sit side by side.
    """

    __slots__ = ("_den", "_hits", "_limit", "_since", "firing", "threshold", "total", "window")

    name = NAME

    def __init__(self, window: int, threshold: Fraction) -> None:
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
        if firing:
            self._since = s
            return Alert(NAME, "firing", s, self.total, self.window, self.threshold)
        return Alert(NAME, "resolved", s, self.total, self.window, self.threshold, self._since)
