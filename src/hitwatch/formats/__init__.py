"""Log formats: text lines in, rows out, and `detect` to pick one per source.

`FORMATS` is the registry: a format is an entry here that says how to make
its parser (see `formats.base.Format`) and whether the native kernel parses
it too (`native`, the kernel's name for it). Engines are chosen from this
table, in `hitwatch.readers.make_reader`, never by guessing.

CSV, CLF and Combined have parsers of their own; every other format is data
(`formats.describe`): the presets of `formats.presets`, and what `resolve`
registers for `--log-format`, `--json-fields` and `--forwarded-for`. The
kernel reads every text format from its description too (`native` "desc";
`hitwatch.native.format_code` may still decline one, see its `description`);
JSON and W3C formats stay Python's (W3C: the `#Fields:` lines before a
worker thread's part of a file say how to read it).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import NamedTuple

from hitwatch.formats import detection
from hitwatch.formats.base import HEADERS, Format, decode_lines
from hitwatch.formats.clf import ClfFormat, looks_combined
from hitwatch.formats.compiler import FormatError, compile_format
from hitwatch.formats.csv import CsvFormat
from hitwatch.formats.detection import SAMPLE_LINES, SCAN_LINES, Detection
from hitwatch.formats.jsonlines import JsonFormat, parse_mapping
from hitwatch.formats.presets import PRESETS, maker
from hitwatch.formats.text import TextFormat
from hitwatch.formats.w3c import W3cFormat
from hitwatch.model import MAX_LINE


class FormatInfo(NamedTuple):
    """A registered format."""

    name: str
    shape: str  # one line for --help
    make: Callable[[], Format]
    native: str | None = None  # the kernel's format ("csv", "clf", "desc"), if it parses this one
    example: tuple[str, ...] = ()  # lines of this shape, for `hitwatch formats`


TEXT = "desc"
"""`FormatInfo.native` of a text format: the kernel reads its description."""


def _native(kind: str) -> str | None:
    """What parses a preset of this kind natively: its description, for a text one."""
    return TEXT if kind in ("apache", "notation") else None


_CLF_EXAMPLE = '10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET /api/user?id=7 HTTP/1.1" 200 1234'

FORMATS: dict[str, FormatInfo] = {
    "csv": FormatInfo(
        "csv",
        '"remotehost","rfc931","authuser","date","request","status","bytes"',
        CsvFormat,
        native="csv",
        example=('"10.0.0.1","-","apache",1700000000,"GET /api/user?id=7 HTTP/1.1",200,1234',),
    ),
    "clf": FormatInfo(
        "clf", "Common Log Format", lambda: ClfFormat("clf"), native="clf", example=(_CLF_EXAMPLE,)
    ),
    "combined": FormatInfo(
        "combined",
        "clf + referer and user agent",
        lambda: ClfFormat("combined"),
        native="clf",  # one parser reads both (SPEC §1)
        example=(_CLF_EXAMPLE + ' "https://www.example.com/" "curl/8.4.0"',),
    ),
    **{
        name: FormatInfo(
            name, preset.shape, maker(name), native=_native(preset.kind), example=preset.example
        )
        for name, preset in PRESETS.items()
    },
}

NAMES = ("auto", *FORMATS)
"""Every registered name (before `resolve` adds any)."""

# SAMPLE_LINES: non-empty, non-header lines that auto-detection looks at,
# among the first SCAN_LINES (a log may start with blank lines).

IS_CSV, IS_CLF, IS_COMBINED = 1, 2, 4
"""What detection asks of each sample line, as bits (the kernel's `classify` too)."""

_HEADER_BYTES = frozenset(h.encode() for h in HEADERS)

__all__ = [
    "FORMATS",
    "NAMES",
    "SAMPLE_LINES",
    "SCAN_LINES",
    "Detection",
    "Format",
    "FormatError",
    "FormatInfo",
    "decode_lines",
    "detect",
    "detect_bytes",
    "detect_bytes_full",
    "detect_full",
    "head_lines",
    "make",
    "mismatch",
    "no_match",
    "resolve",
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
    CSV, CLF and Combined are decided first (as the kernel's `classify` does);
    when no sample line is one of them, the presets are tried. When no line
    parses with any, the lines are read (and found invalid) as CSV when the
    first looks like CSV, else as CLF or Combined (`detect_full` says that
    nothing matched, and what came closest).
    """
    return detect_full(lines).name


def detect_full(lines: list[str]) -> Detection:
    """`detect`'s answer, and whether a sample line parses with it (else the closest)."""
    scan = lines[:SCAN_LINES]
    sample = list(islice((line for line in scan if line and line not in HEADERS), SAMPLE_LINES))
    if not sample:
        return Detection(None)
    csv, clf = CsvFormat(), ClfFormat()
    kinds = [
        (not isinstance(csv.parse_line(line), str)) * IS_CSV
        | (not isinstance(clf.parse_line(line), str)) * IS_CLF
        | looks_combined(line) * IS_COMBINED
        for line in sample
    ]
    ok = sum(1 for k in kinds if k & (IS_CSV | IS_CLF))
    if ok:
        return Detection(choose(kinds, sample[0].startswith('"')), True, (), ok, len(sample))
    found = detection.detect_presets(sample)
    if found.matched:
        return found
    return found._replace(name=choose(kinds, sample[0].startswith('"')))


def detect_bytes(head: bytes, classify: Callable[[bytes], int]) -> str | None:
    """`detect` on the undecoded lines `head`, asking `classify` of each sample line.

    The same answer as `detect(decode_lines(head).lines)` when `classify(line)`
    gives the bits `detect` finds (a test holds the kernel's to it): a line's
    trailing CR is dropped, and a line longer than MAX_LINE parses as nothing.
    """
    return detect_bytes_full(head, classify).name


def detect_bytes_full(head: bytes, classify: Callable[[bytes], int]) -> Detection:
    """`detect_bytes`'s answer, as `detect_full` gives it."""
    data = head[:-1] if head.endswith(b"\n") else head
    sample: list[bytes] = []
    for line in islice(data.split(b"\n"), SCAN_LINES):
        line = line.removesuffix(b"\r")
        if line and line not in _HEADER_BYTES:
            sample.append(line)
            if len(sample) == SAMPLE_LINES:
                break
    if not sample:
        return Detection(None)
    first = sample[0]
    kinds = list(map(classify, sample))
    ok = sum(1 for k in kinds if k & (IS_CSV | IS_CLF))
    if not ok:
        # No CSV, CLF or Combined line: the presets, in Python (as `detect`).
        return detect_full(decode_lines(head).lines)
    quoted = len(first) <= MAX_LINE and first[:1] == b'"'
    return Detection(choose(kinds, quoted), True, (), ok, len(sample))


def mismatch(name: str, lines: list[str]) -> str | None:
    """When not one of the sample `lines` parses with format `name`: what to
    say, with the format that would read them; None when some line parses."""
    sample = detection.sample_of(lines)
    fmt = make(name)
    parse = getattr(fmt, "parse_full", fmt.parse_line)
    if not sample or any(not isinstance(parse(line), str) for line in sample):
        return None
    found = detect_full(sample)
    what = "line" if len(sample) == 1 else f"{len(sample)} lines"
    head = f"format {name} reads none of the first {what}"
    if found.matched and found.name is not None and found.name != name:
        return f"{head}; {found.name} reads {found.parsed} of them"
    return f"{head}, nor does any other known format"


def no_match(found: Detection) -> str:
    """The note for a source that no known format reads (`found.matched` is False)."""
    closest = f" (closest: {', '.join(found.closest)})" if found.closest else ""
    what = "line" if found.sample == 1 else f"{found.sample} lines"
    return (
        f"no known format matches its first {what}{closest}; reading them "
        f"as {found.name}: give the format with --log-format (see hitwatch formats)"
    )


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


def resolve(
    format_name: str = "auto",
    log_format: str | None = None,
    json_fields: str | None = None,
    forwarded_for: bool = False,
) -> str:
    """The registered name of what the options ask for, registering it if it is new.

    `log_format`: a preset's name or a format string (nginx or Apache) as
    the user wrote it; `json_fields`: a JSON field mapping; `forwarded_for`:
    take the client from the X-Forwarded-For field. FormatError (one line)
    when they cannot work: a format string that does not compile, a format
    with no X-Forwarded-For field, two ways of saying the format.
    """
    given = [
        f"--{opt} {value}"
        for opt, value in (("format", format_name), ("log-format", log_format))
        if value not in (None, "auto")
    ] + ([f"--json-fields {json_fields}"] if json_fields is not None else [])
    if len(given) > 1 and not (log_format == format_name and json_fields is None):
        raise FormatError(f"give the format once, not {' and '.join(given)}")
    name = format_name
    if json_fields is not None:
        name = f"json-fields {json_fields}"
        if name not in FORMATS:
            mapping = parse_mapping(json_fields)
            FORMATS[name] = FormatInfo(name, "JSON lines", lambda: JsonFormat(name, mapping))
    elif log_format is not None and log_format in FORMATS:
        name = log_format
    elif log_format is not None:
        name = log_format
        if name not in FORMATS:
            desc = compile_format(log_format)
            FORMATS[name] = FormatInfo(
                name, "format string", lambda: TextFormat(name, desc), native=TEXT
            )
    if not forwarded_for:
        return name
    if name == "auto":
        raise FormatError("--forwarded-for needs the format: give --log-format or --json-fields")
    return _with_xff(name)


def _with_xff(name: str) -> str:
    """The variant of format `name` whose client is the X-Forwarded-For's first address."""
    key = f"{name} (client from X-Forwarded-For)"
    if key in FORMATS:
        return key
    fmt = make(name)
    make_xff: Callable[[], Format]
    if name in PRESETS:
        make_xff = maker(name, True)
    elif isinstance(fmt, TextFormat):
        desc = fmt.desc
        make_xff = lambda: TextFormat(name, desc, True)  # noqa: E731
    elif isinstance(fmt, JsonFormat):
        mapping = fmt.mapping
        make_xff = lambda: JsonFormat(name, mapping, True)  # noqa: E731
    probe = make_xff() if name in PRESETS or isinstance(fmt, TextFormat | JsonFormat) else fmt
    if not (isinstance(probe, W3cFormat) or getattr(probe, "xff", False)):
        raise FormatError(
            f"--forwarded-for: format {name} has no X-Forwarded-For field "
            "(nginx: $http_x_forwarded_for, Apache: %{X-Forwarded-For}i, JSON: xff=PATH)"
        )
    native = TEXT if isinstance(probe, TextFormat) and FORMATS[name].native == TEXT else None
    FORMATS[key] = FormatInfo(key, FORMATS[name].shape, make_xff, native=native)
    return key
