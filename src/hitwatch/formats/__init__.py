"""Log formats: text lines in, rows out, and `detect` to pick one per source.

`FORMATS` is the registry: a format is one module with a parser class (see
`formats.base.Format`) and an entry here that says how to make it, whether
`auto` may pick it, and whether the native kernel parses it too (`native`,
the kernel's name for it). Engines are chosen from this table, in
`hitwatch.readers.make_reader`, never by guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from hitwatch.formats.base import HEADERS, Format, decode_lines
from hitwatch.formats.clf import ClfFormat, looks_combined
from hitwatch.formats.csv import CsvFormat
from hitwatch.model import MAX_LINE


@dataclass(frozen=True)
class FormatInfo:
    """A registered format."""

    name: str
    shape: str  # one line for --help
    make: Callable[[], Format]
    native: str | None = None  # the kernel's format (`native.FORMATS`), if it parses this one


FORMATS: dict[str, FormatInfo] = {
    "csv": FormatInfo(
        "csv",
        '"remotehost","rfc931","authuser","date","request","status","bytes"',
        CsvFormat,
        native="csv",
    ),
    "clf": FormatInfo("clf", "Common Log Format", lambda: ClfFormat("clf"), native="clf"),
    "combined": FormatInfo(
        "combined",
        "clf + referer and user agent",
        lambda: ClfFormat("combined"),
        native="clf",  # one parser reads both (SPEC §1)
    ),
}

NAMES = ("auto", *FORMATS)

SAMPLE_LINES = 20
"""Non-empty, non-header lines that auto-detection looks at..."""
SCAN_LINES = 1000
"""...among the first this many lines (a log may start with blank lines)."""

IS_CSV, IS_CLF, IS_COMBINED = 1, 2, 4
"""What detection asks of each sample line, as bits (the kernel's `classify` too)."""

_HEADER_BYTES = frozenset(h.encode() for h in HEADERS)

__all__ = [
    "FORMATS",
    "NAMES",
    "Format",
    "FormatInfo",
    "decode_lines",
    "detect",
    "detect_bytes",
    "head_lines",
    "make",
]


def make(name: str) -> Format:
    """A fresh parser for a registered format."""
    try:
        return FORMATS[name].make()
    except KeyError:
        raise ValueError(f"unknown format {name!r}") from None


def detect(lines: list[str]) -> str | None:
    """The name of the format that parses most of the first non-empty,
    non-header lines (decoded, as `decode_lines` gives them).

    None when there is nothing to decide on yet (only empty lines or headers).
    When no line parses either way, CSV is chosen if the first line looks
    like CSV, else Combined; the lines are then reported invalid as usual.
    """
    scan = lines[:SCAN_LINES]
    sample = list(islice((line for line in scan if line and line not in HEADERS), SAMPLE_LINES))
    if not sample:
        return None
    csv, clf = CsvFormat(), ClfFormat()
    kinds = [
        (not isinstance(csv.parse_line(line), str)) * IS_CSV
        | (not isinstance(clf.parse_line(line), str)) * IS_CLF
        | looks_combined(line) * IS_COMBINED
        for line in sample
    ]
    return choose(kinds, sample[0].startswith('"'))


def detect_bytes(head: bytes, classify: Callable[[bytes], int]) -> str | None:
    """`detect` on the undecoded lines `head`, asking `classify` of each sample line.

    The same answer as `detect(decode_lines(head).lines)` when `classify(line)`
    gives the bits `detect` finds (a test holds the kernel's to it): a line's
    trailing CR is dropped, and a line longer than MAX_LINE parses as nothing.
    """
    if head.endswith(b"\n"):
        head = head[:-1]
    sample: list[bytes] = []
    for line in islice(head.split(b"\n"), SCAN_LINES):
        line = line.removesuffix(b"\r")
        if line and line not in _HEADER_BYTES:
            sample.append(line)
            if len(sample) == SAMPLE_LINES:
                break
    if not sample:
        return None
    first = sample[0]
    return choose(list(map(classify, sample)), len(first) <= MAX_LINE and first[:1] == b'"')


def choose(kinds: list[int], quoted: bool) -> str:
    """The format from the sample's IS_* bits; `quoted`: its first line starts with `"`."""
    csv_ok = sum(k & IS_CSV for k in kinds)
    clf_ok = sum(k & IS_CLF for k in kinds) // IS_CLF
    if csv_ok > clf_ok or (csv_ok == clf_ok == 0 and quoted):
        return "csv"
    combined = sum(k & IS_COMBINED for k in kinds) // IS_COMBINED
    return "combined" if combined * 2 >= max(clf_ok, 1) else "clf"


def head_lines(data: bytes, count: int) -> bytes:
    """The first `count` lines of `data` (all of it when it has fewer)."""
    pos = -1
    for _ in range(count):
        pos = data.find(b"\n", pos + 1)
        if pos < 0:
            return data
    return data[: pos + 1]
