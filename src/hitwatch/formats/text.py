"""The one parser of descriptions (`formats.describe`): lines in, records out.

`match_items` is the matching rule of `describe`, item by item: the
reference, and what says how far a line got (for detection's "closest").
`TextFormat` reads with regular expressions made from the same items (a
test holds them to `match_items`): one per line, and for whole blocks one
over the block's text that accepts only lines whose values are all well
formed, so that a block of such lines is converted a column at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import add, truediv
from typing import Protocol

from hitwatch.formats.base import (
    HEADERS,
    OVERLONG,
    STATUS_CLASS,
    RequestCache,
    Text,
    TimeCache,
    fast_request,
    is_method,
    parse_bytes,
    requests_of,
    section_of,
    to_bytes,
)
from hitwatch.formats.describe import (
    BYTES,
    CLF_TIME,
    CLOCK,
    DATE,
    DURATION,
    DURATION_UNITS,
    HOST,
    LITERAL,
    METHOD,
    QUOTED,
    REQUEST,
    SKIP,
    STATUS,
    TARGET,
    TIME,
    VHOST,
    XFF,
    Description,
    Item,
    repeats,
    width,
)
from hitwatch.formats.values import (
    first_address,
    parse_duration,
    parse_iso,
    strip_port,
    time_parser,
)
from hitwatch.model import OTHER, Block, FullRow, Row


def match_items(items: Sequence[Item], line: str) -> tuple[list[str], int]:
    """The values of the field items of `line`, in order, and how many items
    matched: all of them (`len(items)`) when the line has the shape."""
    values: list[str] = []
    p = 0
    n = len(line)
    for i, (kind, _field, text) in enumerate(items):
        if kind == LITERAL:
            if not line.startswith(text, p):
                return values, i
            p += len(text)
            continue
        if kind == QUOTED and p < n and line[p] == '"':
            q = p + 1
            while q < n and line[q] != '"':
                q += 2 if line[q] == "\\" else 1
            if q >= n:
                return values, i
            values.append(line[p + 1 : q])
            p = q + 1
            continue
        nxt = items[i + 1] if i + 1 < len(items) else None
        if nxt is None:
            end = line.find(" ", p)
            end = n if end < 0 else end
        elif nxt.kind == LITERAL:
            end = p
            for _ in range(repeats(items[i], nxt.text)):
                end = line.find(nxt.text, end)
                if end < 0:
                    return values, i
                end += len(nxt.text)
            end = line.find(nxt.text, end)
            if end < 0:
                return values, i
        else:
            end = p + width(items[i])
            if end > n:
                return values, i
        values.append(line[p:end])
        p = end
    return values, len(items)


def _stop(items: Sequence[Item], i: int) -> str:
    """The pattern of a bare value of item i, up to what follows it (see describe)."""
    nxt = items[i + 1] if i + 1 < len(items) else None
    if nxt is None:
        return r"[^ \n]*+"
    if nxt.kind != LITERAL:
        return rf"[^\n]{{{width(items[i])}}}"
    c = re.escape(nxt.text[0])
    if len(nxt.text) == 1:
        run = rf"[^{c}\n]*+"
    else:  # the loop unrolled: runs of other characters, and a c that starts no literal
        run = rf"[^{c}\n]*+(?:{c}(?!{re.escape(nxt.text[1:])})[^{c}\n]*+)*+"
    n = repeats(items[i], nxt.text)
    return f"(?:{run}{re.escape(nxt.text)}){{{n}}}{run}" if n else run


_QUOTED_SKIP = r'[^"\\\n]*+(?:\\[^\n][^"\\\n]*+)*+'
_QUOTED_BODY = f"({_QUOTED_SKIP})"


def _piece(items: Sequence[Item], i: int) -> str:
    """The lenient pattern of field item i: a group unless it is SKIP (two for
    a QUOTED one: the quoted value, or the bare one)."""
    item = items[i]
    capture = item.field != SKIP
    bare = f"({_stop(items, i)})" if capture else _stop(items, i)
    if item.kind != QUOTED:
        return bare
    return f'(?:"{_QUOTED_BODY if capture else _QUOTED_SKIP}"|(?!"){bare})'


def lenient_pattern(items: Sequence[Item]) -> str:
    """`match_items` as a regular expression (see `_piece` for its groups)."""
    return "".join(
        re.escape(item.text) if item.kind == LITERAL else _piece(items, i)
        for i, item in enumerate(items)
    )


_STRICT = {
    STATUS: "([1-5][0-9][0-9])",
    BYTES: "([0-9]{1,15}|-)",
    DURATION: r"([0-9]{1,18}(?:\.[0-9]{1,18})?)",
}
_STRICT_CHARS = frozenset("0123456789-.")


def strict_pattern(desc: Description) -> str | None:
    """The block pattern (MULTILINE): the lenient one where each used value must
    be well formed, so that a line it matches has the values `match_items`
    finds and they all convert. One group a used field, except a quoted
    REQUEST: three (`base.fast_request`). None when a strict value could
    run into what follows it."""
    items = desc.items
    out = []
    for i, item in enumerate(items):
        if item.kind == LITERAL:
            out.append(re.escape(item.text))
            continue
        nxt = items[i + 1] if i + 1 < len(items) else None
        quoted = item.kind == QUOTED and not desc.prefer_bare
        if item.field in _STRICT:
            if nxt is not None and nxt.kind == LITERAL and nxt.text[0] in _STRICT_CHARS:
                return None
            quote = '"' if quoted else ""
            end = "(?= |$)" if nxt is None else ""
            out.append(f"{quote}{_STRICT[item.field]}{quote}{end}")
        elif item.field == SKIP:
            out.append(_piece(items, i))
        elif _clf_time(item) and nxt is not None and nxt.kind == LITERAL:
            out.append("(.{26})")  # what a valid one is, and its bound: `.` stops at a newline
        elif quoted and item.field == REQUEST:
            out.append('"' + fast_request(_QUOTED_BODY))
        elif quoted:
            out.append(f'"{_QUOTED_BODY}"')
        else:
            out.append(f'(?!")({_stop(items, i)})' if item.kind == QUOTED else _piece(items, i))
    return "^" + "".join(out) + r"[^\n]*$"


def _clf_time(item: Item) -> bool:
    """A bare TIME field in Apache's `%t` layout, which every valid value fills
    with 26 characters: `10/Oct/2000:13:55:36 -0700`."""
    return item.field == TIME and item.kind != QUOTED and item.text in ("", CLF_TIME)


class TextFormat:
    """Reads lines of one description. `xff`: the client is the first address of
    the X-Forwarded-For field, where the line has one (`--forwarded-for`)."""

    def __init__(self, name: str, desc: Description, xff: bool = False, what: str = "") -> None:
        self.name = name
        self.desc = desc
        self.xff = xff and desc.has(XFF)
        items = desc.items
        self._used = [it for it in items if it.kind != LITERAL and it.field != SKIP]
        self._line = re.compile(lenient_pattern(items))
        strict = strict_pattern(desc)
        self._block = re.compile(strict, re.MULTILINE) if strict else None
        self._groups = [(it.field, it.kind == QUOTED) for it in self._used]
        time = next((it for it in items if it.kind != LITERAL and it.field == TIME), None)
        self._times = TimeCache(time_parser(time.text) if time else parse_iso)
        self._requests = RequestCache()
        self._sections: dict[str, str] = {}
        self._divisors = [DURATION_UNITS[it.text] for it in self._used if it.field == DURATION]
        self.with_vhost = desc.has(VHOST)
        self.with_duration = bool(self._divisors)
        self._host_port = any(it.field == HOST and it.text == "port" for it in self._used)
        self._vhost_port = any(it.field == VHOST and it.text == "port" for it in self._used)
        self._what = what or f"not a {name} line"

    # ------------------------------------------------------------- a line

    def values(self, line: str) -> dict[int, list[str]] | None:
        """The used fields' values of `line` by field code, or None when it has not the shape."""
        m = self._line.match(line)
        if m is None:
            return None
        got: dict[int, list[str]] = {}
        groups = iter(m.groups())
        for field, quoted in self._groups:
            value = next(groups)
            if quoted:
                bare = next(groups)
                value = value if value is not None else bare
            got.setdefault(field, []).append(value)
        return got

    def parse_full(self, line: str) -> FullRow | str:
        """One line -> a record with its vhost and duration, or the reason it is invalid."""
        if line is OVERLONG:
            return "line longer than 64 KiB"
        got = self.values(line)
        if got is None:
            return self._what
        return self.convert(got)

    def parse_line(self, line: str) -> Row | str:
        row = self.parse_full(line)
        return row if isinstance(row, str) else row[:6]

    def convert(self, got: dict[int, list[str]]) -> FullRow | str:
        """Field values (as `values` gives them) -> a record, or why they are not one."""
        if TIME in got:
            ts = self._times[got[TIME][0]]
        else:
            ts = self._times[got[DATE][0] + " " + got[CLOCK][0]]
        if ts < 0:
            return "bad timestamp"
        status = got[STATUS][0]
        if status not in STATUS_CLASS:
            return "bad status"
        nbytes = parse_bytes(got[BYTES][0]) if BYTES in got else 0
        if nbytes < 0:
            return "bad bytes"
        if REQUEST in got:
            method, section = self._requests[got[REQUEST][0]]
        else:
            method = got[METHOD][0] if METHOD in got else OTHER
            method = method if is_method(method) else OTHER
            section = section_of(got[TARGET][0]) if TARGET in got else OTHER
        host = got[HOST][0] if HOST in got else "-"
        if self._host_port:
            host = strip_port(host)
        if self.xff:
            host = first_address(got[XFF][0]) or host
        vhost = got[VHOST][0] if VHOST in got else ""
        if self._vhost_port:
            vhost = strip_port(vhost)
        duration: float | None = None
        if DURATION in got:
            duration = 0.0
            for value, divisor in zip(got[DURATION], self._divisors, strict=True):
                part = parse_duration(value, divisor)
                if part is None:
                    duration = None
                    break
                duration += part
        return (ts, nbytes, section, host, status, method, vhost, duration)

    # ------------------------------------------------------------ a block

    def parse(self, text: Text) -> Block:
        """A block at C speed when every line is well formed, else line by line."""
        if self._block is not None:
            found = self._block.findall(text.text)
            if len(found) == text.count:
                block = self._columns(found, text.count)
                if block is not None:
                    return block
        return lines_block(self, text)

    def _columns(self, found: list[tuple[str, ...]], count: int) -> Block | None:
        cols: dict[int, list[Sequence[str]]] = {}
        it = iter(zip(*found, strict=True))
        for field, quoted in self._groups:
            if field == REQUEST and quoted and not self.desc.prefer_bare:
                cols[REQUEST] = [next(it), next(it), next(it)]
            else:
                cols.setdefault(field, []).append(next(it))
        if TIME in cols:
            ts = list(map(self._times.__getitem__, cols[TIME][0]))
        else:
            stamps = map(" ".join, zip(cols[DATE][0], cols[CLOCK][0], strict=True))
            ts = list(map(self._times.__getitem__, stamps))
        if -1 in ts:
            return None
        methods: Sequence[str]
        sections: Sequence[str]
        if REQUEST in cols and len(cols[REQUEST]) == 3:
            got = cols[REQUEST]
            methods, sections = requests_of(got[0], got[1], got[2], self._requests)
        elif REQUEST in cols:
            methods, sections = zip(*map(self._requests.__getitem__, cols[REQUEST][0]), strict=True)
        else:
            methods = (
                [m if is_method(m) else OTHER for m in cols[METHOD][0]]
                if METHOD in cols
                else [OTHER] * count
            )
            sections = (
                sections_of(cols[TARGET][0], self._section) if TARGET in cols else [OTHER] * count
            )
        hosts: Sequence[str] = cols[HOST][0] if HOST in cols else ["-"] * count
        if self._host_port:
            hosts = list(map(strip_port, hosts))
        if self.xff:
            hosts = [first_address(x) or h for x, h in zip(cols[XFF][0], hosts, strict=True)]
        nbytes = to_bytes(tuple(cols[BYTES][0])) if BYTES in cols else [0] * count
        block = Block.of(ts, nbytes, sections, hosts, cols[STATUS][0], methods, count)
        if self.with_vhost:
            vhosts = cols[VHOST][0]
            block.vhosts = list(map(strip_port, vhosts)) if self._vhost_port else list(vhosts)
        if self.with_duration:
            block.durations = _durations(cols[DURATION], self._divisors)
        return block

    def _section(self, target: str) -> str:
        got = self._sections.get(target)
        if got is None:
            if len(self._sections) > 100_000:
                self._sections.clear()
            got = self._sections[target] = section_of(target)
        return got


_SECTION = re.compile(r"^(?:(/[^/?#\n]*)[^\n]*|[^\n]*)$", re.MULTILINE)


def sections_of(targets: Sequence[str], section: Callable[[str], str]) -> list[str]:
    """`section_of` of each target, at C speed for the ones that are paths
    (`section` is the memo for the others: schemes, `*`, nonsense)."""
    found = _SECTION.findall("\n".join(targets))
    if len(found) != len(targets):  # a target holds a newline (JSON can)
        return list(map(section, targets))
    if "" in found:
        return [f or section(t) for f, t in zip(found, targets, strict=True)]
    return found


def _durations(cols: list[Sequence[str]], divisors: list[float]) -> list[float | None]:
    """Seconds a line, several duration fields added up (values already well formed)."""
    total: list[float] = list(map(truediv, map(float, cols[0]), repeat(divisors[0])))
    for col, divisor in zip(cols[1:], divisors[1:], strict=True):
        total = list(map(add, total, map(truediv, map(float, col), repeat(divisor))))
    return list(total)


class FullFormat(Protocol):
    """What `lines_block` needs of a format (TextFormat, the JSON and W3C ones)."""

    name: str
    with_vhost: bool
    with_duration: bool

    def parse_full(self, line: str) -> FullRow | str: ...


def lines_block(fmt: FullFormat, text: Text) -> Block:
    """The line-at-a-time parse (base.parse_lines with the vhost and duration columns)."""
    block = Block(text.count)
    lineno = text.first_lineno - 1
    parse = fmt.parse_full
    for line in text.lines:
        lineno += 1
        if not line:
            block.empty += 1
        elif line in HEADERS:
            block.headers += 1
        else:
            row = parse(line)
            if isinstance(row, str):
                block.invalid.append((len(block.ts), lineno, row))
                continue
            block.add(row[:6])
            if fmt.with_vhost:
                block.vhosts.append(row[6])
            if fmt.with_duration:
                block.durations.append(row[7])
    return block
