"""One `Config` for a run: what the command line says (a TOML file will fill it too).

Pure values, checked where they are made (the CLI's option types); every
stage is built from them by the shell (`hitwatch.pipeline`, `hitwatch.live`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from hitwatch.model import Threshold

LIVE_LATENESS = 5
"""SPEC §2: the default lateness of live sources, where waiting delays every report."""

FINITE_LATENESS = 300
"""SPEC §2: the default lateness of finite sources, where waiting costs nothing."""


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """`10`, `90s`, `2m`, `1h`, `1d` (spaces around it allowed): seconds."""
    value = text.strip()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    digits = value[:-1] if value[-1:] in _UNITS else value
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"expected seconds such as 10, 90s, 2m or 1h, got {text!r}")
    return int(digits) * _UNITS[unit]


def parse_threshold(text: str) -> Fraction:
    """A non-negative decimal (`10`, `0.1`, `.5`), exactly: 0.1 is one tenth."""
    value = text.strip()
    whole, _, fraction = value.partition(".")
    parts = [p for p in (whole, fraction) if p]
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"expected a non-negative number such as 10 or 0.5, got {text!r}")
    return Fraction(value)


DIMENSIONS = ("section", "host", "method", "status", "vhost")
"""What a rule may match on or group by."""


class RuleSpec(NamedTuple):
    """One alert rule as configured (SPEC §9); `hitwatch.rules.build` makes it.

    `match` holds (dimension, accepted values) pairs, sorted; a status value
    is a class (`5xx`) or a code (`404`), as are `errors`."""

    name: str
    kind: str
    window: int = 120
    threshold: Threshold = 10
    for_: int = 0
    match: tuple[tuple[str, tuple[str, ...]], ...] = ()
    group_by: str | None = None
    max_groups: int = 100
    errors: tuple[str, ...] = ("5xx",)
    min_hits: int = 20
    quantile: Fraction = Fraction(95, 100)  # latency_above


class OutputSpec(NamedTuple):
    """One output: its kind (`text`, `jsonl`) and the file it writes (None: stdout)."""

    kind: str
    path: str | None = None


def builtin_rule(window: int = 120, threshold: Threshold = 10) -> RuleSpec:
    """SPEC §4's `high_traffic` rule, with `--window` and `--threshold` applied."""
    return RuleSpec("high_traffic", "rate_above", window, threshold)


class Config(NamedTuple):
    """Everything a run is made of."""

    paths: tuple[str, ...] = ()
    format: str = "auto"
    interval: int = 10
    lateness: int | None = None  # None: LIVE_LATENESS or FINITE_LATENESS by the sources
    top: int = 5
    rules: tuple[RuleSpec, ...] = (builtin_rule(),)
    outputs: tuple[OutputSpec, ...] = (OutputSpec("text"),)
    local: bool = False
    verbose: bool = False
    engine: str = "auto"  # auto, native or python
    workers: int | None = None  # None: chosen by the native reader
    follow: bool = False
    since: int | None = None  # with follow: 0 is "now", else seconds of log time
    speed: float | None = None
    dashboard: bool = True  # a live run on a terminal shows the dashboard
    log_format: str | None = None  # --log-format as given (`format` holds what it resolved to)
    json_fields: str | None = None  # --json-fields as given
    forwarded_for: bool = False  # the client from X-Forwarded-For

    @property
    def live(self) -> bool:
        """Followed or paced: the loops of `hitwatch.live` run it."""
        return self.follow or self.speed is not None

    def lateness_for(self, live_input: bool) -> int:
        if self.lateness is not None:
            return self.lateness
        return LIVE_LATENESS if live_input or self.live else FINITE_LATENESS
