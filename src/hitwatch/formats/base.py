"""What every format shares: blocks of lines in, rows and accounting out (SPEC §1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import compress
from operator import not_
from typing import Protocol

from hitwatch.model import MAX_LINE, OTHER, Block, Row

MAX_TS = 253402300799
"""9999-12-31T23:59:59Z: the last second an ISO 8601 date can name."""

HEADERS = frozenset(
    {
        '"remotehost","rfc931","authuser","date","request","status","bytes"',
        "remotehost,rfc931,authuser,date,request,status,bytes",
    }
)

# A line the reader cut short because it was longer than MAX_LINE. Compared by
# identity, so no line from a log can be mistaken for it.
OVERLONG = "".join(["\x00", "overlong"])

STATUS_CLASS: dict[str, str] = {str(n): f"{n // 100}xx" for n in range(100, 600)}

_ALPHA = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SCHEME_CHARS = _ALPHA | frozenset("0123456789+.-")
_METHOD_CHARS = _ALPHA | frozenset("-_")
_CACHE_LIMIT = 100_000


class Format(Protocol):
    name: str

    def parse(self, text: Text) -> Block: ...

    def parse_line(self, line: str) -> Row | str: ...


class Text:
    """A block of whole lines, decoded: `text == "\\n".join(lines)`.

    `lines` is split from `text` only when asked for: the fast parsers read
    the whole `text` with one regular expression and need only `count`.
    """

    __slots__ = ("_lines", "count", "first_lineno", "text")

    def __init__(self, text: str, lines: list[str] | None = None, first_lineno: int = 1) -> None:
        self.text = text
        self._lines = lines
        self.count = len(lines) if lines is not None else text.count("\n") + 1
        self.first_lineno = first_lineno

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines


def decode_lines(data: bytes, first_lineno: int = 1) -> Text:
    """Decode a block of whole lines (bytes).

    Undecodable bytes become U+FFFD; a trailing CR (CRLF logs) is dropped;
    a line longer than MAX_LINE bytes is replaced by OVERLONG. Only ``\\n``
    ends a line: other Unicode line breaks are content.
    """
    if data.endswith(b"\n"):
        data = data[:-1]
    text = data.decode("utf-8", "replace")
    if "\r" not in text and not _may_hold_long_line(data):
        return Text(text, None, first_lineno)
    lines = text.split("\n")
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    # A line of more than MAX_LINE bytes has more than MAX_LINE // 4 characters.
    if len(data) > MAX_LINE and max(map(len, lines)) > MAX_LINE // 4:
        raw = data.split(b"\n")
        for i, line in enumerate(lines):
            if len(line) > MAX_LINE // 4 and len(raw[i].removesuffix(b"\r")) > MAX_LINE:
                lines[i] = OVERLONG
    return Text("\n".join(lines), lines, first_lineno)


_HALF = MAX_LINE // 2


def _may_hold_long_line(data: bytes) -> bool:
    """False when no line of `data` can be longer than MAX_LINE bytes: such a
    line would hold one of the aligned windows of MAX_LINE / 2 bytes checked
    here, with no newline in it. A few `find`s per block, not one per line."""
    return any(data.find(b"\n", i, i + _HALF) < 0 for i in range(0, len(data) - _HALF + 1, _HALF))


def parse_lines(fmt: Format, text: Text) -> Block:
    """The line-at-a-time parse, the reference for every format's fast `parse`."""
    block = Block(text.count)
    lineno = text.first_lineno - 1
    for line in text.lines:
        lineno += 1
        if not line:
            block.empty += 1
        elif line in HEADERS:
            block.headers += 1
        else:
            row = fmt.parse_line(line)
            if isinstance(row, str):
                block.invalid.append((len(block.ts), lineno, row))
            else:
                block.add(row)
    return block


class TimeCache(dict[str, int]):
    """Memo of timestamp text -> Unix seconds (-1 when invalid), bounded."""

    def __init__(self, parse: Callable[[str], int]) -> None:
        super().__init__()
        self._parse = parse

    def __missing__(self, key: str) -> int:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        value = self[key] = self._parse(key)
        return value


class RequestCache(dict[str, tuple[str, str]]):
    """Memo of request line -> (method, section); bounded, since targets are unbounded."""

    def __missing__(self, key: str) -> tuple[str, str]:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        value = self[key] = request_parts(key)
        return value


# Why some classes of the block patterns do not stop at a newline.
#
# A class is tested character by character, and a negated class of one
# character (`[^ ]`) has a faster loop in `re` than one of two (`[^ \n]`):
# on the runs of a Combined line this is a quarter of the parse. A match that
# ran on into the next line would leave the block one match short, which each
# block parser checks before it takes the matches. Time stays linear: each such
# class excludes a character that an earlier part of the pattern requires in
# the same line (the space after the first field, a `"`), and every part before
# it stops at `\n`; a run crosses only lines without that character, which
# cannot reach the class themselves, so no character is scanned from two lines.


def fast_request(raw: str) -> str:
    """The regular expression of a quoted request, `"` already matched before it,
    for the block parsers: three groups, (method, section, the request as
    written). The common shape (`GET /path?q HTTP/1.1`, a method token and a
    target that is a path, no escapes) gives the method and the section;
    anything else gives the request, in the group `raw` describes, for
    `request_parts` (see `requests_of`).

    Its classes do not stop at a newline (see the note above), and take
    what they match for good (`*+`): there is nothing to give back before a space or `"`."""
    return (
        r'(?:([A-Za-z][A-Za-z_-]{0,19}) (/[^/?# "\\]*+)[^ "\\]*+(?: [^ "\\]*+)?'
        rf'|{raw})"'
    )


def requests_of(
    methods: Sequence[str], sections: Sequence[str], raws: Sequence[str], cache: RequestCache
) -> tuple[Sequence[str], Sequence[str]]:
    """The methods and sections of a block parsed with `fast_request`: a line
    whose request had another shape (its method group is empty) is split by
    `request_parts`."""
    if "" not in methods:
        return methods, sections
    methods, sections = list(methods), list(sections)
    for i in compress(range(len(methods)), map(not_, methods)):
        methods[i], sections[i] = cache[raws[i]]
    return methods, sections


_DASH = {"-": "0"}


def to_bytes(sizes: tuple[str, ...]) -> list[int]:
    """Byte counts from fields already known to be digits or `-` (0)."""
    if "-" not in sizes:
        return list(map(int, sizes))
    return list(map(int, map(_DASH.get, sizes, sizes)))


def request_parts(request: str) -> tuple[str, str]:
    """(method, section) of a request line (SPEC §1): 2 or 3 parts split on
    single spaces, the first a method token; else (other) twice."""
    parts = request.split(" ")
    if not 2 <= len(parts) <= 3 or not is_method(parts[0]):
        return OTHER, OTHER
    return parts[0], section_of(parts[1])


def is_method(word: str) -> bool:
    """1–20 ASCII letters, `-` or `_`, starting with a letter (SPEC §1): `GET`,
    `VERSION-CONTROL`; not TLS bytes sent to a plain-HTTP port, nor `<SCRIPT>`."""
    return 0 < len(word) <= 20 and word[0] in _ALPHA and _METHOD_CHARS.issuperset(word)


def section_of(target: str) -> str:
    """`/api/user?x` -> `/api`; `http://h/x/y` -> `/x`; anything not a path -> (other)."""
    # Query and fragment first: the authority ends at `?` or `#` too (RFC 3986).
    for stop in "?#":
        cut = target.find(stop)
        if cut >= 0:
            target = target[:cut]
    after = _scheme_end(target)
    if after > 0:
        slash = target.find("/", after)
        target = target[slash:] if slash >= 0 else ""
    if not target.startswith("/"):
        return OTHER
    end = target.find("/", 1)
    return target if end < 0 else target[:end] if end > 1 else "/"


def _scheme_end(target: str) -> int:
    """The end of a `[A-Za-z][A-Za-z0-9+.-]*://` prefix of `target`, or -1.

    Without `re`, which only the pure engine's parsers import: scheme
    characters hold no `:`, so only the first `://` can end a scheme.
    """
    colon = target.find("://")
    if colon < 1 or target[0] not in _ALPHA or not _SCHEME_CHARS.issuperset(target[1:colon]):
        return -1
    return colon + 3


def parse_bytes(text: str) -> int:
    """`-` is 0; else 1–15 ASCII digits (a petabyte), or -1 when invalid."""
    if text == "-":
        return 0
    if not 0 < len(text) <= 15 or not text.isascii() or not text.isdigit():
        return -1
    return int(text)


def describe(line: str, reason: str) -> str:
    return "line longer than 64 KiB" if line is OVERLONG else reason
