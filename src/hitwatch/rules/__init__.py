"""Alert rules: pure state machines over final seconds (SPEC §4, §9).

A rule kind is a class with the `Rule` interface and a text line for its
events, registered in `KINDS`. The engine gives every rule the accepted
records (`count`) and the same runs of final seconds (`evaluate`), and merges
their alerts in time order (config order within a second).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from hitwatch.config import RuleSpec
from hitwatch.model import Alert, RuleStatus
from hitwatch.rules import kinds, text
from hitwatch.rules.rate_above import RateAbove
from hitwatch.rules.selection import Records
from hitwatch.rules.window import Condition, WindowRule

When = text.When


class Rule(Protocol):
    """What the engine asks of an alert rule."""

    name: str
    kind: str
    window: int
    counts: bool  # `count` matters: it selects records (else every record counts)

    @property
    def horizon(self) -> int:
        """Seconds after its last second with hits by which the rule has settled:
        with no more hits, its state cannot change from then on. The engine
        skips empty stretches of log time past it without calling `evaluate`."""
        ...

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
        """Take accepted records (not late) as columns, before their seconds are final
        (`vhosts` and `durations` for formats that have them)."""
        ...

    def evaluate(self, first: int, hits: Sequence[int], records: Records) -> list[Alert]:
        """Take the final seconds `first, first + 1, ...` (every second, in order,
        empty ones included, except stretches the engine skips past the horizon)
        with the hits of all records in each; return the alerts they cause, in
        time order. `records` holds the accepted records of recent seconds (for
        `top`)."""
        ...

    def firing(self) -> list[str]:
        """What is firing now, as the summary lists it: `rule` or `rule{key=value}`."""
        ...

    def status(self) -> RuleStatus: ...

    def snapshot(self) -> dict[str, Any]:
        """The rule's state as JSON values, with what it was configured with."""
        ...

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back a `snapshot`; one of a rule configured otherwise is ignored."""
        ...


class Kind(NamedTuple):
    """A registered rule kind: how to build its rules and how to say its alerts."""

    build: Callable[[RuleSpec], Rule]
    text_line: Callable[[Alert, When], str]
    keys: frozenset[str] = frozenset()  # the keys only this kind takes (SPEC §9)


def _windowed(condition: Condition) -> Callable[[RuleSpec], Rule]:
    def build(spec: RuleSpec) -> Rule:
        if RateAbove.fits(spec):
            return RateAbove.from_spec(spec)  # the built-in rule's shape, in bulk
        return WindowRule(spec, condition)

    return build


KINDS: dict[str, Kind] = {
    "rate_above": Kind(_windowed(kinds.rate_above), text.rate_above),
    "rate_below": Kind(_windowed(kinds.rate_below), text.rate_below),
    "error_ratio_above": Kind(
        _windowed(kinds.error_ratio_above),
        text.error_ratio_above,
        frozenset({"errors", "min_hits"}),
    ),
    "latency_above": Kind(
        _windowed(kinds.latency_above),
        text.latency_above,
        frozenset({"quantile", "min_hits"}),
    ),
}


def build(spec: RuleSpec) -> Rule:
    try:
        kind = KINDS[spec.kind]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise ValueError(f"rule {spec.name}: unknown kind {spec.kind!r} (known: {known})") from None
    return kind.build(spec)


def text_line(alert: Alert, when: When) -> str:
    """The stable, greppable line of an alert event (SPEC §4 for the built-in rule)."""
    return KINDS[alert.kind].text_line(alert, when)


top_line = text.top_line

__all__ = ["KINDS", "Kind", "Records", "Rule", "build", "text_line", "top_line"]
