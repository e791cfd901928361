"""Common and Combined Log Format: one parser (SPEC §1).

    host ident authuser [10/Oct/2000:13:55:36 -0700] "GET /a/b HTTP/1.0" 200 2326 "referer" "agent"

The referer and user agent are optional and may be cut short: a line whose
Common Log Format part is intact is a record.
"""

from __future__ import annotations

import re

from hitwatch.formats.base import (
    MAX_TS,
    STATUS_CLASS,
    RequestCache,
    Text,
    TimeCache,
    describe,
    fast_request,
    parse_bytes,
    parse_lines,
    requests_of,
    to_bytes,
)
from hitwatch.model import Block, Row

# The request may hold \" escapes (Apache writes them); anything after the
# bytes field must be separated by a space and is ignored.
_LINE = re.compile(
    r'([^ ]+) [^ ]+ [^ ]+ \[([^\]]*)\] "([^"\\]*(?:\\.[^"\\]*)*)" ([^ ]+) ([^ ]+)(?= |\Z)'
)
_COMBINED_TAIL = re.compile(r' "([^"\\]*(?:\\.[^"\\]*)*)" "([^"\\]*(?:\\.[^"\\]*)*)"')
_TIME = re.compile(
    r"([0-9]{2})/([A-Z][a-z]{2})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) "
    r"([+-])([0-9]{2})([0-9]{2})"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse_time(text: str) -> int:
    """`10/Oct/2000:13:55:36 -0700` -> Unix seconds, or -1 when invalid."""
    m = _TIME.fullmatch(text)
    if m is None:
        return -1
    day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
    month = _MONTHS.get(mon, 0)
    y, d, h, mi, s, offh, offm = (int(x) for x in (year, day, hh, mm, ss, oh, om))
    if not month or not 1 <= d <= _DAYS[month] or h > 23 or mi > 59 or s > 59:
        return -1
    if month == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        return -1
    if offh > 23 or offm > 59 or y < 1970:
        return -1
    offset = (offh * 3600 + offm * 60) * (-1 if sign == "-" else 1)
    ts = _days(y, month, d) * 86_400 + h * 3600 + mi * 60 + s - offset
    return ts if 0 <= ts <= MAX_TS else -1


def _days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a valid date (calendar.timegm's count).

    H. Hinnant's days_from_civil: years start in March, so that the leap day
    ends them, and 400 of them (an era) are 146 097 days.
    """
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + 9 if month <= 2 else month - 3) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


# _LINE over a whole block (MULTILINE), with status and bytes checked by the
# regex itself: a line it matches is a record as soon as its timestamp is
# valid. Any other line matches the empty branch instead, one match a line.
# Ident and user do not stop at a newline (the note above base.fast_request:
# the first field, which does, ends at a space of its own line); a valid
# timestamp has 26 characters.
_BLOCK = re.compile(
    r'^(?:([^ \n]++) [^ ]++ [^ ]++ \[(.{26})\] "'
    + fast_request(r'([^"\\\n]*(?:\\[^\n][^"\\\n]*)*)')
    + r" ([1-5][0-9][0-9]) ([0-9]{1,15}|-)(?= |$)[^\n]*|[^\n]*)$",
    re.MULTILINE,
)


class ClfFormat:
    """Parses `clf` and `combined` lines; `name` is what detection saw."""

    def __init__(self, name: str = "combined") -> None:
        self.name = name
        self._times = TimeCache(parse_time)
        self._requests = RequestCache()

    def parse_line(self, line: str) -> Row | str:
        """One line -> a row, or the reason it is invalid."""
        m = _LINE.match(line)
        if m is None:
            return describe(line, "not a Common/Combined Log Format line")
        host, stamp, request, status, size = m.groups()
        ts = self._times[stamp]
        if ts < 0:
            return "bad timestamp"
        if status not in STATUS_CLASS:
            return "bad status"
        nbytes = parse_bytes(size)
        if nbytes < 0:
            return "bad bytes"
        method, section = self._requests[request]
        return (ts, nbytes, section, host, status, method)

    def parse(self, text: Text) -> Block:
        """The whole block at C speed when every line is a record, else line by line."""
        found = _BLOCK.findall(text.text)
        if len(found) != text.count:
            return parse_lines(self, text)
        hosts, stamps, methods, sections, raws, statuses, sizes = zip(*found, strict=True)
        if "" in hosts:  # a line that is not a record (or empty)
            return parse_lines(self, text)
        ts = list(map(self._times.__getitem__, stamps))
        if -1 in ts:
            return parse_lines(self, text)
        got = requests_of(methods, sections, raws, self._requests)
        return Block.of(ts, to_bytes(sizes), got[1], hosts, statuses, got[0], len(found))


def looks_combined(line: str) -> bool:
    """True when a CLF line carries the referer and user agent."""
    m = _LINE.match(line)
    return m is not None and _COMBINED_TAIL.match(line, m.end()) is not None
