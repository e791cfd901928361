"""A group key's window and alert state in a configured rule, and the
nearest-rank quantile of a latency window (see hitwatch.rules.window)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from typing import Any


class KeyState:
    """One group key's window and alert state."""

    __slots__ = (
        "due", "durations", "errs", "firing", "first", "held_since", "hits", "since", "window",
    )  # fmt: skip

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
        self.due: int | None = None  # when it is to be looked at next, if no hits come

    @property
    def idle(self) -> bool:
        """Its condition was false when last looked at."""
        return self.held_since is None and not self.firing

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


def nearest_rank(values: Sequence[float], q: Fraction) -> float | None:
    """The value at rank ⌈q·n⌉ (from 1) of the sorted `values`; None when empty."""
    n = len(values)
    if n == 0:
        return None
    rank = -(-q.numerator * n // q.denominator)  # ⌈q·n⌉, exactly
    return values[max(1, rank) - 1]
