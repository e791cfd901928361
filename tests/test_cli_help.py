"""The CLI's help formatter finds the same width as argparse's own (via shutil)."""

from __future__ import annotations

import argparse
import os

import pytest

from hitwatch.cli import build_parser


def texts(p: argparse.ArgumentParser) -> list[str]:
    out = []
    for make in (p.format_help, p.format_usage):
        try:
            out.append(make())
        except ValueError as exc:  # a width too small for textwrap: the same either way
            out.append(f"error: {exc}")
    return out


@pytest.mark.parametrize("columns", [None, "40", "79", "100", "200", "abc", "0", "-3", "1"])
@pytest.mark.parametrize("terminal", [None, 0, 50, 132])
def test_help_as_argparse_would_format_it(
    monkeypatch: pytest.MonkeyPatch, columns: str | None, terminal: int | None
) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)

    def size(fd: int = 1) -> os.terminal_size:
        if terminal is None:
            raise OSError("not a terminal")
        return os.terminal_size((terminal, 24))

    monkeypatch.setattr(os, "get_terminal_size", size)
    p = build_parser()
    ours = texts(p)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    assert ours == texts(p)
