"""Each rule kind's stable, greppable lines (SPEC §4 for the built-in rule) and
the `top:` line under a firing one."""

from __future__ import annotations

from collections.abc import Callable

from hitwatch.model import Alert
from hitwatch.render import duration, number, safe

When = Callable[[int], str]
"""How an output shows a time (ISO 8601 UTC or local)."""


def _name(alert: Alert) -> str:
    if alert.rule == "high_traffic" and alert.group is None:
        return "High traffic"
    return safe(alert.label)


def rate_above(alert: Alert, when: When) -> str:
    rate = f"{alert.hits / alert.window:.2f} req/s over {duration(alert.window)}"
    if alert.state == "firing":
        return (
            f"{_name(alert)} generated an alert - hits = {alert.hits}, triggered at "
            f"{when(alert.ts)} ({rate}, threshold {number(alert.threshold)})"
        )
    return (
        f"{_name(alert)} alert recovered - hits = {alert.hits}, recovered at "
        f"{when(alert.ts)} ({rate}, after {duration(_lasted(alert))})"
    )


def rate_below(alert: Alert, when: When) -> str:
    rate = f"{alert.hits / alert.window:.2f} req/s over {duration(alert.window)}"
    if alert.state == "firing":
        return (
            f"{_name(alert)} went quiet - hits = {alert.hits}, triggered at "
            f"{when(alert.ts)} ({rate}, below {number(alert.threshold)})"
        )
    return (
        f"{_name(alert)} traffic recovered - hits = {alert.hits}, recovered at "
        f"{when(alert.ts)} ({rate}, after {duration(_lasted(alert))})"
    )


def error_ratio_above(alert: Alert, when: When) -> str:
    errors = f"errors = {alert.errors} of {alert.hits} ({alert.ratio:.1%})"
    if alert.state == "firing":
        return (
            f"{_name(alert)} generated an alert - {errors}, triggered at {when(alert.ts)} "
            f"(threshold {float(alert.threshold):.1%} over {duration(alert.window)})"
        )
    return (
        f"{_name(alert)} alert recovered - {errors}, recovered at {when(alert.ts)} "
        f"(after {duration(_lasted(alert))})"
    )


def latency_above(alert: Alert, when: When) -> str:
    q = f"p{float(alert.quantile * 100):g}" if alert.quantile is not None else "latency"
    value = "-" if alert.latency is None else seconds(alert.latency)
    measured = f"{q} = {value} over {alert.hits} requests"
    if alert.state == "firing":
        return (
            f"{_name(alert)} generated an alert - {measured}, triggered at {when(alert.ts)} "
            f"(threshold {seconds(float(alert.threshold))} over {duration(alert.window)})"
        )
    return (
        f"{_name(alert)} alert recovered - {measured}, recovered at {when(alert.ts)} "
        f"(after {duration(_lasted(alert))})"
    )


def seconds(value: float) -> str:
    """A duration as people read it: 0.1234 -> 123 ms, 2.5 -> 2.50 s."""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _lasted(alert: Alert) -> int:
    return alert.ts - alert.since_ts if alert.since_ts is not None else 0


def top_line(alert: Alert) -> str | None:
    """`  top: section /api 62% · host 10.0.0.5 41% · status 5xx 88%`: the first
    of each dimension, as a share of the records `top` was made of."""
    top = alert.top
    if top is None:
        return None
    parts = []
    for label, ranked in (("section", top.sections), ("host", top.hosts), ("status", top.status)):
        if ranked:
            name, hits = ranked[0]
            parts.append(f"{label} {safe(name)} {hits / top.total:.0%}")
    return "  top: " + (" · ".join(parts) if parts else "no records in the window")
