"""clf.parse_time's own day count against calendar.timegm, which it replaced."""

from __future__ import annotations

import re
from calendar import timegm

from hypothesis import given, settings
from hypothesis import strategies as st

from hitwatch.formats.base import MAX_TS
from hitwatch.formats.clf import parse_time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_TIME = re.compile(
    r"([0-9]{2})/([A-Z][a-z]{2})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) "
    r"([+-])([0-9]{2})([0-9]{2})"
)
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def old_parse_time(text: str) -> int:
    """parse_time as it was, with calendar.timegm."""
    m = _TIME.fullmatch(text)
    if m is None:
        return -1
    day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
    month = MONTHS.index(mon) + 1 if mon in MONTHS else 0
    y, d, h, mi, s, offh, offm = (int(x) for x in (year, day, hh, mm, ss, oh, om))
    if not month or not 1 <= d <= _DAYS[month] or h > 23 or mi > 59 or s > 59:
        return -1
    if month == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        return -1
    if offh > 23 or offm > 59 or y < 1970:
        return -1
    offset = (offh * 3600 + offm * 60) * (-1 if sign == "-" else 1)
    ts = timegm((y, month, d, h, mi, s)) - offset
    return ts if 0 <= ts <= MAX_TS else -1


stamps = st.builds(
    lambda d, mon, y, h, mi, s, sign, oh, om: (
        f"{d:02d}/{mon}/{y:04d}:{h:02d}:{mi:02d}:{s:02d} {sign}{oh:02d}{om:02d}"
    ),
    st.integers(0, 32),
    st.sampled_from(MONTHS),
    st.one_of(
        st.integers(1969, 9999),
        st.sampled_from([1970, 1972, 2000, 2100, 2400, 9996, 9999]),
    ),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 60),
    st.sampled_from("+-"),
    st.integers(0, 24),
    st.integers(0, 60),
)


@settings(max_examples=3000)
@given(stamps)
def test_parse_time_is_timegm(stamp: str) -> None:
    assert parse_time(stamp) == old_parse_time(stamp)


def test_edges() -> None:
    for stamp, ts in [
        ("01/Jan/1970:00:00:00 +0000", 0),
        ("29/Feb/2000:00:00:00 +0000", 951_782_400),
        ("31/Dec/9999:23:59:59 +0000", MAX_TS),
        ("01/Mar/2100:00:00:00 +0000", 4_107_542_400),
        ("29/Feb/2100:00:00:00 +0000", -1),
    ]:
        assert parse_time(stamp) == ts == old_parse_time(stamp)
