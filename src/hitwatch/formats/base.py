"""What every format shares: blocks of lines in, rows and accounting out (SPEC §1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

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


class Text(NamedTuple):
    """A block of whole lines, decoded: `text == "\\n".join(lines)`."""

    text: str
    lines: list[str]
    first_lineno: int = 1


def decode_lines(data: bytes, first_lineno: int = 1) -> Text:
    """Decode a block of whole lines (bytes).

    Undecodable bytes become U+FFFD; a trailing CR (CRLF logs) is dropped;
    a line longer than MAX_LINE bytes is replaced by OVERLONG. Only ``\\n``
    ends a line: other Unicode line breaks are content.
    """
    if data.endswith(b"\n"):
        data = data[:-1]
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    changed = False
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        changed = True
    # A line of more than MAX_LINE bytes has more than MAX_LINE // 4 characters.
    if len(data) > MAX_LINE and max(map(len, lines)) > MAX_LINE // 4:
        raw = data.split(b"\n")
        for i, line in enumerate(lines):
            if len(line) > MAX_LINE // 4 and len(raw[i].removesuffix(b"\r")) > MAX_LINE:
                lines[i] = OVERLONG
                changed = True
    if changed:
        text = "\n".join(lines)
    return Text(text, lines, first_lineno)


def parse_lines(fmt: Format, text: Text) -> Block:
    """The line-at-a-time parse, the reference for every format's fast `parse`."""
    block = Block(len(text.lines))
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


def to_bytes(sizes: tuple[str, ...]) -> list[int]:
    """Byte counts from fields already known to be digits or `-`."""
    if "-" not in sizes:
        return list(map(int, sizes))
    return [0 if s == "-" else int(s) for s in sizes]


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
