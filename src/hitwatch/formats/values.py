"""Field values into record values: times, durations, addresses (see `describe`).

Each function takes the text of one field and never raises: a time that is
not one is -1, a duration that is not one is None.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hitwatch.formats.base import MAX_TS
from hitwatch.formats.clf import _days
from hitwatch.formats.clf import parse_time as parse_clf_time
from hitwatch.formats.describe import CLF_TIME

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:[.,][0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_EPOCH = re.compile(r"([0-9]{1,19})(?:\.[0-9]{1,9})?")
_NUMBER = re.compile(r"[0-9]{1,18}(?:\.[0-9]{1,18})?")


def timestamp(
    year: int, month: int, day: int, hour: int, minute: int, second: int, offset: int = 0
) -> int:
    """Unix seconds of a civil time `offset` seconds east of UTC, or -1 when
    the date or time does not exist or falls outside 1970-9999."""
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS[month] or year < 1970:
        return -1
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return -1
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second, read as :59
        return -1
    ts = _days(year, month, day) * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offset
    return ts if 0 <= ts <= MAX_TS else -1


def _zone(text: str | None) -> int:
    """Seconds east of UTC of `Z`, `+hh:mm`, `+hhmm`; None is UTC; -1_000_000 when bad."""
    if not text or text == "Z":
        return 0
    hh, mm = int(text[1:3]), int(text[-2:])
    if hh > 23 or mm > 59:
        return -1_000_000
    return (hh * 3600 + mm * 60) * (-1 if text[0] == "-" else 1)


def parse_iso(text: str) -> int:
    """RFC 3339 / ISO 8601 `2024-05-01T12:00:00.123+02:00` (zone optional: UTC)."""
    m = _ISO.fullmatch(text)
    if m is None:
        return -1
    y, mo, d, h, mi, s, zone = m.groups()
    offset = _zone(zone)
    if offset == -1_000_000:
        return -1
    return timestamp(int(y), int(mo), int(d), int(h), int(mi), int(s), offset)


def epoch_parser(divisor: int) -> Callable[[str], int]:
    """Epoch time in units of 1/divisor s: whole (ms, µs) or, for seconds, with a fraction."""

    def parse(text: str) -> int:
        m = _EPOCH.fullmatch(text)
        if m is None or (divisor != 1 and len(m.group(1)) != len(text)):
            return -1
        ts = int(m.group(1)) // divisor
        return ts if ts <= MAX_TS else -1

    return parse


_STRF = {
    "d": r"([0-9]{2})",
    "e": r" ?([0-9]{1,2})",
    "m": r"([0-9]{2})",
    "b": r"([A-Z][a-z]{2})",
    "Y": r"([0-9]{4})",
    "H": r"([0-9]{2})",
    "M": r"([0-9]{2})",
    "S": r"([0-9]{2})",
    "z": r"(Z|[+-][0-9]{2}:?[0-9]{2})",
    "f": r"[0-9]{1,9}",
    "a": r"[A-Z][a-z]{2}",
}
_STRF_ALIASES = {"T": "%H:%M:%S", "F": "%Y-%m-%d"}


def strftime_problem(pattern: str) -> str | None:
    """Why `pattern` is not a supported strftime layout, or None."""
    try:
        _strf_regex(pattern)
    except ValueError as exc:
        return str(exc)
    return None


def _strf_regex(pattern: str) -> tuple[re.Pattern[str], list[str]]:
    for alias, full in _STRF_ALIASES.items():
        pattern = pattern.replace("%" + alias, full)
    out: list[str] = []
    order: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c != "%":
            out.append(re.escape(c))
            i += 1
            continue
        spec = pattern[i + 1 : i + 2]
        if spec == "%":
            out.append("%")
        elif spec in _STRF:
            if spec in order and spec not in "fa":
                raise ValueError(f"%{spec} twice in the time layout {pattern!r}")
            out.append(_STRF[spec])
            if spec not in "fa":
                order.append(spec)
        else:
            raise ValueError(f"unsupported time conversion %{spec} in {pattern!r}")
        i += 2
    if not {"Y", "H", "M"} <= set(order) or not {"d", "e"} & set(order):
        raise ValueError(f"the time layout {pattern!r} needs a year, day, hour and minute")
    if not {"m", "b"} & set(order):
        raise ValueError(f"the time layout {pattern!r} needs a month (%m or %b)")
    return re.compile("".join(out)), order


def strftime_parser(pattern: str) -> Callable[[str], int]:
    """A parser for one strftime layout (checked by `strftime_problem` first)."""
    rx, order = _strf_regex(pattern)

    def parse(text: str) -> int:
        m = rx.fullmatch(text)
        if m is None:
            return -1
        got = dict(zip(order, m.groups(), strict=True))
        month = _MONTHS.get(got["b"], 0) if "b" in got else int(got["m"])
        day = int(got["d"] if "d" in got else got["e"].strip())
        offset = _zone(got.get("z"))
        if offset == -1_000_000:
            return -1
        second = int(got.get("S", "0"))
        return timestamp(int(got["Y"]), month, day, int(got["H"]), int(got["M"]), second, offset)

    return parse


def time_parser(layout: str) -> Callable[[str], int]:
    """The parser of a TIME field's layout (see `describe`)."""
    if layout in ("", CLF_TIME):
        return parse_clf_time
    if layout == "iso8601":
        return parse_iso
    if layout in ("sec", "msec", "usec"):
        return epoch_parser({"sec": 1, "msec": 1000, "usec": 1_000_000}[layout])
    return strftime_parser(layout)


def parse_any_time(value: object) -> int:
    """A JSON time: epoch seconds, ms, µs or ns (told apart by size) as a number
    or digits, an RFC 3339 string, or a CLF time; -1 when none of them."""
    if isinstance(value, bool):
        return -1
    if isinstance(value, int | float):
        if not 0 <= value < 1e20:
            return -1
        n = float(value)
        divisor = 1 if n < 1e11 else 1000 if n < 1e14 else 1_000_000 if n < 1e17 else 10**9
        ts = int(value) // divisor
        return ts if ts <= MAX_TS else -1
    if not isinstance(value, str) or len(value) > 64:
        return -1
    m = _EPOCH.fullmatch(value)
    if m is not None:
        digits = m.group(1)
        n = int(digits)
        divisor = 1 if n < 10**11 else 1000 if n < 10**14 else 10**6 if n < 10**17 else 10**9
        ts = n // divisor
        return ts if ts <= MAX_TS else -1
    ts = parse_iso(value)
    return ts if ts >= 0 else parse_clf_time(value)


def parse_duration(text: str, divisor: float) -> float | None:
    """Seconds from a DURATION value in units of 1/divisor s: digits with an
    optional fraction; anything else (`-`, `-1`, a list) is no duration."""
    if _NUMBER.fullmatch(text) is None:
        return None
    return float(text) / divisor


def json_duration(value: object, divisor: float) -> float | None:
    """A JSON duration (number or numeric string); None when absent or negative."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) / divisor if 0 <= value < 1e18 else None
    if isinstance(value, str):
        return parse_duration(value, divisor)
    return None


def strip_port(address: str) -> str:
    """`1.2.3.4:80` -> `1.2.3.4`; `[::1]:80` -> `::1`; `::1` and `host` unchanged."""
    if address.startswith("["):
        end = address.find("]")
        return address[1:end] if end > 0 else address
    colon = address.rfind(":")
    if colon > 0 and address.count(":") == 1 and address[colon + 1 :].isdigit():
        return address[:colon]
    return address


def first_address(xff: str) -> str | None:
    """The first address of an X-Forwarded-For value, or None when there is none."""
    first = xff.split(",", 1)[0].strip()
    return None if not first or first == "-" else first
