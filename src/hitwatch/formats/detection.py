"""Which preset a source is in, from a sample of its first lines, and which came close.

`formats.detect` decides among CSV, CLF and Combined first, as the kernel
does; only when no sample line is one of those are the presets tried here:
the one that reads the most sample lines wins, the more specific one (more
fields) on a tie. When none reads a line, `closest` names the presets that
got furthest into the lines, so that the operator can be told what to try.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import NamedTuple

from hitwatch.formats.base import HEADERS, STATUS_CLASS, parse_bytes
from hitwatch.formats.compiler import compile_format
from hitwatch.formats.describe import BYTES, LITERAL, STATUS, TIME, Description, Item
from hitwatch.formats.jsonlines import JsonFormat
from hitwatch.formats.presets import PRESETS, FullFormat, description, maker
from hitwatch.formats.text import TextFormat, match_items
from hitwatch.formats.values import time_parser

SAMPLE_LINES = 20
SCAN_LINES = 1000

AUTO = tuple(PRESETS)
"""The presets auto-detection may pick (CSV, CLF and Combined are decided before)."""

_COMBINED = compile_format('%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"')


class Detection(NamedTuple):
    """What a sample says: the format (None: nothing to decide on yet), whether
    any sample line parses with it, and when not, the nearest formats."""

    name: str | None
    matched: bool = True
    closest: tuple[str, ...] = ()
    parsed: int = 0
    sample: int = 0


def sample_of(lines: list[str]) -> list[str]:
    """The first SAMPLE_LINES non-empty, non-header lines among the first SCAN_LINES."""
    scan = lines[:SCAN_LINES]
    return list(islice((line for line in scan if line and line not in HEADERS), SAMPLE_LINES))


def parsed(fmt: FullFormat | object, sample: list[str]) -> int:
    """How many sample lines `fmt` reads (W3C directives update it, in order)."""
    parse = getattr(fmt, "parse_full", None) or getattr(fmt, "parse_line")  # noqa: B009
    return sum(not isinstance(parse(line), str) for line in sample)


def _specificity(fmt: FullFormat) -> int:
    if isinstance(fmt, TextFormat):
        return sum(item.kind != LITERAL for item in fmt.desc.items)
    if isinstance(fmt, JsonFormat):
        return len(fmt.mapping.paths)
    return 1


def best_preset(sample: list[str], names: tuple[str, ...] = AUTO) -> tuple[str, int] | None:
    """The preset that reads the most sample lines (the most specific on a
    tie, then the first listed), with that count; None when none reads one."""
    best: tuple[int, int, int, str] | None = None
    json_like = sum(line.startswith("{") for line in sample) * 2 >= len(sample)
    for rank, name in enumerate(names):
        if (PRESETS[name].kind == "json") != json_like:
            continue
        fmt = maker(name)()
        n = parsed(fmt, sample)
        if n:
            key = (n, _specificity(fmt), -rank, name)
            best = key if best is None or key > best else best
    return (best[3], best[0]) if best else None


def closest(sample: list[str], count: int = 3) -> tuple[str, ...]:
    """The formats that got furthest into the sample lines, nearest first."""
    scores: list[tuple[float, str]] = []
    for name, preset in PRESETS.items():
        if preset.kind == "json":
            score = _json_score(name, sample)
        elif preset.kind == "w3c":
            score = _w3c_score(sample) * ((name == "cloudfront") == _tabs(sample))
        else:
            score = _text_score(description(preset), sample)
        scores.append((score, name))
    scores.append((_text_score(_COMBINED, sample), "combined"))
    scores.sort(key=lambda s: -s[0])
    return tuple(name for score, name in scores[:count] if score > 0)


def _text_score(desc: Description, sample: list[str]) -> float:
    return sum(progress(desc, line) for line in sample) / max(len(sample), 1)


def progress(desc: Description, line: str) -> float:
    """How far into its items `desc` reads `line` (1.0: all of them), stopping
    at the first time, status or bytes value that is not one."""
    items = desc.items
    values, matched = match_items(items, line)
    fields = (item for item in items if item.kind != LITERAL)
    for n, (item, value) in enumerate(zip(fields, values, strict=False)):
        check = _CHECKS.get(item.field)
        if check is not None and not check(item.text, value):
            return sum(1 for it in items[: _index(items, n)]) / len(items)
    return matched / len(items)


def _index(items: tuple[Item, ...], n: int) -> int:
    """The position in `items` of the n-th field item."""
    seen = -1
    for i, item in enumerate(items):
        seen += item.kind != LITERAL
        if seen == n:
            return i
    return len(items)


_CHECKS: dict[int, Callable[[str, str], bool]] = {
    TIME: lambda layout, value: time_parser(layout)(value) >= 0,
    STATUS: lambda _, value: value in STATUS_CLASS,
    BYTES: lambda _, value: parse_bytes(value) >= 0,
}


def _json_score(name: str, sample: list[str]) -> float:
    fmt = maker(name)()
    assert isinstance(fmt, JsonFormat)
    keys = fmt.mapping.paths
    total = 0.0
    for line in sample:
        if not line.startswith("{"):
            continue
        row = fmt.parse_full(line)
        total += 1.0 if not isinstance(row, str) else 0.5 if row != "not a JSON line" else 0.1
    return total / max(len(sample), 1) * min(len(keys), 1)


def _w3c_score(sample: list[str]) -> float:
    return sum(line.startswith("#") for line in sample) / max(len(sample), 1) * 0.9


def _tabs(sample: list[str]) -> bool:
    return any("\t" in line for line in sample)


def detect_presets(lines: list[str]) -> Detection:
    """Detection among the presets (see the module's docstring)."""
    sample = sample_of(lines)
    if not sample:
        return Detection(None)
    found = best_preset(sample)
    if found is None:
        return Detection(None, False, closest(sample), 0, len(sample))
    return Detection(found[0], True, (), found[1], len(sample))
