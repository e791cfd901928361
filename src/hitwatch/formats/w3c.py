"""W3C extended logs (IIS, CloudFront): the `#Fields:` line is the format string.

    #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip ...
    2024-05-01 12:00:00 10.0.0.1 GET /index.html - 443 - 192.0.2.7 ...

Each `#Fields:` line compiles to a description (`formats.describe`): one
field a name, separated by a space (a tab for CloudFront), every value
QUOTED (IIS quotes values that hold spaces). A `#Fields:` line may come
again mid-file with other fields: the lines after it are read with it.
Lines before any `#Fields:` line are read with the preset's usual fields.
Directive lines (`#...`) are skipped like headers, never invalid.
"""

from __future__ import annotations

from hitwatch.formats.base import HEADERS, OVERLONG, Text
from hitwatch.formats.describe import (
    BYTES,
    CLOCK,
    DATE,
    DURATION,
    HOST,
    LITERAL,
    METHOD,
    QUOTED,
    SKIP,
    STATUS,
    TARGET,
    VHOST,
    XFF,
    Description,
    Item,
)
from hitwatch.formats.text import TextFormat, lines_block
from hitwatch.model import Block, FullRow, Row

W3C_FIELDS: dict[str, int] = {
    "date": DATE,
    "time": CLOCK,
    "c-ip": HOST,
    "cs-method": METHOD,
    "cs-uri-stem": TARGET,
    "sc-status": STATUS,
    "sc-bytes": BYTES,
    "time-taken": DURATION,
    "x-host-header": VHOST,
    "cs-host": VHOST,
    "cs(host)": VHOST,
    "cs(x-forwarded-for)": XFF,
    "x-forwarded-for": XFF,
}
"""W3C field names hitwatch reads (lower case); any other is skipped."""

IIS_FIELDS = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)
"""IIS's default fields, for lines before any `#Fields:` line."""

CLOUDFRONT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields"
)
"""CloudFront's standard log fields (every file starts with them as `#Fields:`)."""

MAX_FIELDS = 200


def fields_description(fields: str, sep: str, unit: str) -> Description:
    """The description of a `#Fields:` list; `unit` of time-taken (IIS: ms, CloudFront: s)."""
    names = fields.split()[:MAX_FIELDS]
    lowered = [n.lower() for n in names]
    # The Host header the client sent beats CloudFront's own distribution name.
    prefer = "x-host-header" if "x-host-header" in lowered else None
    items: list[Item] = []
    seen: set[int] = set()
    for name in lowered:
        field = W3C_FIELDS.get(name, SKIP)
        if field == VHOST and prefer and name != prefer:
            field = SKIP
        if field in seen and field not in (SKIP,):
            field = SKIP
        seen.add(field)
        if items:
            items.append(Item(LITERAL, SKIP, sep))
        items.append(Item(QUOTED, field, unit if field == DURATION else ""))
    return Description(tuple(items), "#Fields: " + fields, prefer_bare=True)


def usable(desc: Description) -> bool:
    fields = set(desc.fields())
    return {DATE, CLOCK, STATUS} <= fields


class W3cFormat:
    """Reads W3C extended lines, following the `#Fields:` directives."""

    def __init__(self, name: str, default: str, sep: str, unit: str, xff: bool = False) -> None:
        self.name = name
        self.sep = sep
        self.unit = unit
        self.xff = xff
        self.with_vhost = True
        self.with_duration = True
        self._fmt = self._make(default)
        self._fields = default

    def _make(self, fields: str) -> TextFormat | None:
        desc = fields_description(fields, self.sep, self.unit)
        what = "not a line of its #Fields:"
        return TextFormat(self.name, desc, self.xff, what) if usable(desc) else None

    def _directive(self, line: str) -> None:
        if line.startswith("#Fields:"):
            fields = line[len("#Fields:") :].strip()
            if fields != self._fields:
                self._fields = fields
                self._fmt = self._make(fields)

    def parse_full(self, line: str) -> FullRow | str:
        if line is OVERLONG:
            return "line longer than 64 KiB"
        if line.startswith("#"):
            self._directive(line)
            return "a W3C directive"
        if self._fmt is None:
            return "the #Fields: line has no date, time or sc-status"
        row = self._fmt.parse_full(line)
        if isinstance(row, str):
            return row
        return (*row[:6], row[6] if self._fmt.with_vhost else "", row[7])

    def parse_line(self, line: str) -> Row | str:
        row = self.parse_full(line)
        return row if isinstance(row, str) else row[:6]

    def parse(self, text: Text) -> Block:
        body = text.text
        fmt = self._fmt
        if fmt is not None and not body.startswith("#") and "\n#" not in body:
            block = fmt.parse(text)
            if not fmt.with_vhost:
                block.vhosts = [""] * len(block.ts)
            if not fmt.with_duration:
                block.durations = [None] * len(block.ts)
            return block
        block = Block(text.count)
        lineno = text.first_lineno - 1
        for line in text.lines:
            lineno += 1
            if not line:
                block.empty += 1
            elif line.startswith("#") or line in HEADERS:
                self._directive(line)
                block.headers += 1
            else:
                row = self.parse_full(line)
                if isinstance(row, str):
                    block.invalid.append((len(block.ts), lineno, row))
                else:
                    block.add(row[:6])
                    block.vhosts.append(row[6])
                    block.durations.append(row[7])
        return block


__all__ = ["W3cFormat", "lines_block"]
