"""SPEC §8's idle clock: log time that goes on when a followed log goes quiet.

Pure: the wall time is handed in (`now`), so live loops and tests drive it.
"""

from __future__ import annotations

from hitwatch.engine.core import Engine


class IdleClock:
    """SPEC §8's idle clock, pure: feed it what happened, ask it how far to advance.

    Anchored at (wall time, M) whenever a record raises M. Once no record
    has arrived for more than `lateness` seconds of wall time, event time is
    `M + (now - anchor)`, and seconds up to that minus `lateness + 1` are
    final, just as if records had kept arriving with empty seconds.
    """

    def __init__(self, lateness: int, now: float) -> None:
        self.lateness = lateness
        self._arrival = now
        self._anchor_wall = now
        self._anchor_m = -1
        self._advanced = -1  # the last second the clock made final

    def observe(self, now: float, rows_before: int, engine: Engine) -> None:
        """Call after feeding: notes arrivals and real (record-made) increases of M."""
        if engine.rows == rows_before:
            return
        self._arrival = now
        m = engine.max_ts
        if m > self._anchor_m and m > self._advanced:
            self._anchor_m = m
            self._anchor_wall = now

    def idle(self, now: float) -> bool:
        return self._anchor_m >= 0 and now - self._arrival > self.lateness

    def target(self, now: float) -> int | None:
        """The second to make final now, or None while records are still arriving."""
        if not self.idle(now):
            return None
        return self._anchor_m + int(now - self._anchor_wall) - self.lateness - 1

    def tick(self, now: float, engine: Engine) -> None:
        target = self.target(now)
        if target is not None and target > engine.final:
            engine.advance_to(target)
            self._advanced = max(self._advanced, target)
