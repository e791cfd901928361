"""The CSV form (SPEC §1):

    "remotehost","rfc931","authuser","date","request","status","bytes"

`date` is Unix seconds. Any field may be quoted (RFC 4180: `""` is a quote
inside a quoted field) or not. A row must have exactly seven fields.
"""

from __future__ import annotations

import re

from hitwatch.formats.base import (
    MAX_TS,
    STATUS_CLASS,
    RequestCache,
    Text,
    describe,
    fast_request,
    parse_bytes,
    parse_lines,
    requests_of,
    to_bytes,
)
from hitwatch.model import Block, Row

# The shape nearly every line has, over a whole block, one match per line; any
# other line matches the empty branch and goes through split_fields. The
# quoted fields do not stop at a newline (the note above base.fast_request:
# each follows the `"` that starts its own line).
_BLOCK = re.compile(
    r'^(?:"([^"]*+)","[^"]*+","[^"]*+",([0-9]{1,12}),"'
    + fast_request(r'([^"\n]*)')
    + r",([1-5][0-9][0-9]),([0-9]{1,15}|-)|[^\n]*)$",
    re.MULTILINE,
)


def split_fields(line: str) -> list[str] | None:
    """RFC 4180 fields of one line, or None when its quoting is broken."""
    fields: list[str] = []
    i = 0
    n = len(line)
    while True:
        if i < n and line[i] == '"':
            parts: list[str] = []
            i += 1
            while True:
                q = line.find('"', i)
                if q < 0:
                    return None  # unterminated quote
                parts.append(line[i:q])
                if q + 1 < n and line[q + 1] == '"':
                    parts.append('"')
                    i = q + 2
                    continue
                i = q + 1
                break
            fields.append("".join(parts))
            if i == n:
                return fields
            if line[i] != ",":
                return None  # text after a closing quote
            i += 1
        else:
            comma = line.find(",", i)
            if comma < 0:
                fields.append(line[i:])
                return fields
            fields.append(line[i:comma])
            i = comma + 1


def parse_ts(text: str) -> int:
    """Unix seconds as 1–12 ASCII digits, up to MAX_TS; -1 when invalid."""
    if not 0 < len(text) <= 12 or not text.isascii() or not text.isdigit():
        return -1
    ts = int(text)
    return ts if ts <= MAX_TS else -1


class CsvFormat:
    name = "csv"

    def __init__(self) -> None:
        self._requests = RequestCache()

    def parse_line(self, line: str) -> Row | str:
        fields = split_fields(line)
        if fields is None:
            return describe(line, "broken CSV quoting")
        if len(fields) != 7:
            return describe(line, f"{len(fields)} CSV fields, expected 7")
        host, _ident, _user, date, request, status, size = fields
        ts = parse_ts(date)
        if ts < 0:
            return "bad date"
        if status not in STATUS_CLASS:
            return "bad status"
        nbytes = parse_bytes(size)
        if nbytes < 0:
            return "bad bytes"
        method, section = self._requests[request]
        return (ts, nbytes, section, host, status, method)

    def parse(self, text: Text) -> Block:
        """The whole block at C speed when every line is canonical, else line by line."""
        found = _BLOCK.findall(text.text)
        if len(found) != text.count:
            return parse_lines(self, text)
        hosts, dates, methods, sections, raws, statuses, sizes = zip(*found, strict=True)
        if "" in dates:
            return parse_lines(self, text)
        ts = list(map(int, dates))
        if max(ts) > MAX_TS:
            return parse_lines(self, text)
        got = requests_of(methods, sections, raws, self._requests)
        return Block.of(ts, to_bytes(sizes), got[1], hosts, statuses, got[0], len(found))
