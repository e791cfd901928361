"""Query parameters of the HTTP API, checked: every byte of a request is hostile.

Each parser raises `BadRequest` with the message the client gets in a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_TS = 253402300800
"""One past 9999-12-31T23:59:59Z: times are accepted in [0, MAX_TS]."""

DAY = 86400
MAX_RANGE = 366 * DAY
"""The longest `[from, to)` one query may ask for; page through longer spans."""

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 50_000
MAX_PARAM = 128
"""Characters of one parameter's value."""


class BadRequest(Exception):
    """A request the API refuses with 400 and this message."""


@dataclass(frozen=True)
class RangeQuery:
    t_from: int
    t_to: int
    limit: int
    after: tuple[int, int] | None
    rule: str | None


def parse_time(name: str, text: str) -> int:
    """Epoch seconds (`1700000000`) or ISO 8601 (`2023-11-14T22:13:20Z`, a date,
    an offset); a time without a zone is UTC."""
    text = text.strip()
    if not text or len(text) > 64:
        raise BadRequest(f"{name}: expected epoch seconds or an ISO 8601 time")
    if text.isascii() and text.isdigit():
        value = int(text)
    else:
        try:
            when = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise BadRequest(
                f"{name}: expected epoch seconds or an ISO 8601 time, got {text[:40]!r}"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            value = int(when.timestamp())
        except (OverflowError, OSError, ValueError):
            raise BadRequest(f"{name}: out of range") from None
    if not 0 <= value <= MAX_TS:
        raise BadRequest(f"{name}: out of range (0 to {MAX_TS})")
    return value


def parse_int(name: str, text: str, low: int, high: int) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise BadRequest(f"{name}: expected a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise BadRequest(f"{name}: expected a whole number from {low} to {high}")
    return value


def parse_cursor(text: str) -> tuple[int, int]:
    t0, dot, seq = text.partition(".")
    if not dot or not all(p.isascii() and p.isdigit() and len(p) <= 15 for p in (t0, seq)):
        raise BadRequest("cursor: not a cursor this API gave")
    return int(t0), int(seq)


def cursor_text(cursor: tuple[int, int]) -> str:
    return f"{cursor[0]}.{cursor[1]}"


def parse_rule(text: str) -> str:
    if not (1 <= len(text) <= 64 and all(c in _RULE_CHARS for c in text)):
        raise BadRequest("rule: expected a rule name ([a-z0-9_], at most 64)")
    return text


_RULE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def check_known(params: Mapping[str, str], known: set[str], raw_items: int) -> None:
    for name in params:
        if name not in known:
            shown = name[:40].encode("ascii", "backslashreplace").decode()
            raise BadRequest(f"unknown parameter {shown!r} (known: {', '.join(sorted(known))})")
    if raw_items != len(params):
        raise BadRequest("a parameter is given twice")
    for name, value in params.items():
        if len(value) > MAX_PARAM:
            raise BadRequest(f"{name}: too long")


def range_query(
    params: Mapping[str, str], raw_items: int, *, default_to: int, alerts: bool
) -> RangeQuery:
    """`from`, `to`, `limit`, `cursor` (and `rule` for alerts) of a range query.

    `to` defaults to `default_to` (one past the newest log time), `from` to a day before `to`."""
    known = {"from", "to", "limit", "cursor"} | ({"rule"} if alerts else set())
    check_known(params, known, raw_items)
    t_to = parse_time("to", params["to"]) if "to" in params else min(default_to, MAX_TS)
    t_from = parse_time("from", params["from"]) if "from" in params else max(0, t_to - DAY)
    if t_from > t_to:
        raise BadRequest("from: after to")
    if t_to - t_from > MAX_RANGE:
        raise BadRequest(f"range: longer than {MAX_RANGE // DAY} days; ask for less at a time")
    limit = (
        parse_int("limit", params["limit"], 1, MAX_LIMIT) if "limit" in params else DEFAULT_LIMIT
    )
    after = parse_cursor(params["cursor"]) if "cursor" in params else None
    rule = parse_rule(params["rule"]) if "rule" in params else None
    return RangeQuery(t_from, t_to, limit, after, rule)
