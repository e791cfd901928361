"""Log formats: text lines in, rows out. `detect` picks one from a source's first lines."""

from __future__ import annotations

from itertools import islice

from hitwatch.formats.base import HEADERS, Block, Format, decode_lines
from hitwatch.formats.clf import ClfFormat, looks_combined
from hitwatch.formats.csv import CsvFormat

NAMES = ("auto", "csv", "clf", "combined")
SAMPLE_LINES = 20
"""Non-empty, non-header lines that auto-detection looks at..."""
SCAN_LINES = 1000
"""...among the first this many lines (a log may start with blank lines)."""

__all__ = ["NAMES", "Block", "Format", "decode_lines", "detect", "make"]


def make(name: str) -> Format:
    """A fresh parser for a format name other than `auto`."""
    if name == "csv":
        return CsvFormat()
    if name in ("clf", "combined"):
        return ClfFormat(name)
    raise ValueError(f"unknown format {name!r}")


def detect(lines: list[str]) -> Format | None:
    """The format that parses most of the first non-empty, non-header lines.

    None when there is nothing to decide on yet (only empty lines or headers).
    When no line parses either way, CSV is chosen if the first line looks
    like CSV, else Combined; the lines are then reported invalid as usual.
    """
    scan = lines[:SCAN_LINES]
    sample = list(islice((line for line in scan if line and line not in HEADERS), SAMPLE_LINES))
    if not sample:
        return None
    csv, clf = CsvFormat(), ClfFormat()
    csv_ok = sum(not isinstance(csv.parse_line(line), str) for line in sample)
    clf_ok = sum(not isinstance(clf.parse_line(line), str) for line in sample)
    if csv_ok > clf_ok or (csv_ok == clf_ok == 0 and sample[0].startswith('"')):
        return csv
    combined = sum(looks_combined(line) for line in sample)
    return ClfFormat("combined" if combined * 2 >= max(clf_ok, 1) else "clf")
