"""Alert rules: pure state machines over final seconds (SPEC §4, §9).

A rule kind is one module with a class that has the `Rule` interface and a
`text_line` for its events; it is registered in `KINDS` below. The engine
gives every rule the same runs of final seconds, in bulk, and merges their
alerts in time order (config order within a second).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hitwatch.config import RuleSpec
from hitwatch.model import Alert, RuleStatus
from hitwatch.rules import rate_above

When = Callable[[int], str]
"""How an output shows a time (ISO 8601 UTC or local)."""


class Rule(Protocol):
    """What the engine asks of an alert rule."""

    name: str
    kind: str

    @property
    def horizon(self) -> int:
        """Seconds after its last second with hits by which the rule has settled:
        with no more hits, its state cannot change from then on. The engine
        skips empty stretches of log time past it without calling `evaluate`."""
        ...

    def evaluate(self, first: int, hits: Sequence[int]) -> list[Alert]:
        """Take the final seconds `first, first + 1, ...` with these hits (every
        second, in order, empty ones included, except stretches the engine skips
        past the horizon); return the alerts they cause, in time order."""
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


@dataclass(frozen=True)
class Kind:
    """A registered rule kind: how to build its rules and how to say its alerts."""

    build: Callable[[RuleSpec], Rule]
    text_line: Callable[[Alert, When], str]


KINDS: dict[str, Kind] = {
    "rate_above": Kind(rate_above.RateAbove.from_spec, rate_above.text_line),
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
