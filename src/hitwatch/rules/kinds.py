"""The conditions of the configured rule kinds (SPEC §9), over a key's window.

Threshold T, window N; all compared exactly, as rationals. A kind is one
function here and one entry in `KINDS` (`rules/__init__.py`), with its text
lines in `rules/text.py`; `WindowRule` does the rest.
"""

from __future__ import annotations

from fractions import Fraction

from hitwatch.rules.keys import KeyState, nearest_rank
from hitwatch.rules.window import WindowRule


def rate_above(rule: WindowRule, state: KeyState, s: int) -> bool:
    return state.hits * rule.den > rule.limit


def rate_below(rule: WindowRule, state: KeyState, s: int) -> bool:
    if s < state.first + rule.window - 1:
        return False  # not a whole window in the timeline yet
    return state.hits * rule.den < rule.limit


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
