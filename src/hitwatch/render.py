"""How values are written for people: times, durations, numbers, safe text.

Shared by the outputs and the rules' text lines; imports no stage."""

from __future__ import annotations

from datetime import UTC, datetime

from hitwatch.model import Threshold

# Control characters (C0, DEL, C1) and the invisible ones that reorder or break
# lines; a log line must never reach a terminal as a control sequence.
_UNSAFE = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, 0x2028, 0x2029]
_UNSAFE += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _UNSAFE}


def safe(text: str) -> str:
    """`text` with every control character shown as an escape, never interpreted."""
    # Printable ASCII has none of them (the ASCII ones are exactly those that
    # are not printable), and is most names: skip translate, 5-10x slower.
    if text.isascii() and text.isprintable():
        return text
    return text.translate(_ESCAPES)


# Reports end at M + 1 and local zones run ahead of UTC, so times just past
# 9999-12-31T23:59:59Z (the last record time the parsers accept) must format
# too. datetime stops at year 9999; the Gregorian calendar repeats every 400
# years, so such a time is computed 400 years earlier and its year put back.
_CYCLE = 146_097 * 86_400
_SHIFT_AFTER = 253_402_300_799 - 2 * 86_400
_LAST_YEAR = 9999 + 400


def _utc(ts: int) -> tuple[datetime, int]:
    if ts > _SHIFT_AFTER:
        return datetime.fromtimestamp(ts - _CYCLE, UTC), 400
    return datetime.fromtimestamp(ts, UTC), 0


# Reports come every few seconds of log time, so most times fall on a day
# already seen: its date is kept, and only the time of day is formatted.
_DAY = 86_400
_dates: dict[int, str] = {}
_DATES_KEPT = 1024
_TWO_DIGITS = [f"{n:02d}" for n in range(60)]


def iso_utc(ts: int) -> str:
    day, second = divmod(ts, _DAY)
    date = _dates.get(day)
    if date is None:
        date = _date(ts, day)
    two = _TWO_DIGITS
    return f"{date}{two[second // 3600]}:{two[second // 60 % 60]}:{two[second % 60]}Z"


def _date(ts: int, day: int) -> str:
    """`YYYY-MM-DDT` of `ts`, remembered for its `day` (the cache stays small: a
    long run of empty intervals can cross millions of days)."""
    year, month, mday = _civil(day)
    if not 1 <= year <= _LAST_YEAR:
        _utc(ts)  # beyond datetime even with the 400-year shift: its error, as ever
    if len(_dates) >= _DATES_KEPT:
        _dates.clear()
    date = _dates[day] = f"{year:04d}-{month:02d}-{mday:02d}T"
    return date


def _civil(day: int) -> tuple[int, int, int]:
    """(year, month, day of month) of the day `day` days after 1970-01-01.

    H. Hinnant's civil_from_days: years start in March, so that the leap day
    ends them, and 400 of them (an era) are 146 097 days.
    """
    z = day + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    mday = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, mday


def iso_local(ts: int) -> str:
    d, years = _utc(ts)
    local = d.astimezone()
    return f"{local.year + years:04d}{local.isoformat()[4:]}"


def duration(seconds: int) -> str:
    """120 -> 2m, 87 -> 1m27s, 3600 -> 1h, 0 -> 0s."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def number(value: Threshold) -> int | float:
    """A threshold as JSON shows it: 10, not 10.0; 0.1 stays 0.1."""
    return int(value) if value.denominator == 1 else float(value)
