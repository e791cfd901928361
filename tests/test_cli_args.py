"""The CLI's quick option parser gives argparse's answers, or leaves the line to argparse."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence
from fractions import Fraction
from types import SimpleNamespace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hitwatch import __version__
from hitwatch.cli import (
    DEFAULTS,
    _decimal,
    _duration,
    _quick_args,
    build_parser,
    parse_args,
)


def argparse_answer(argv: Sequence[str]) -> dict[str, object] | None:
    """argparse's namespace for `argv`, or None when it exits (an error, help, version)."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            return vars(build_parser().parse_args(argv))
    except SystemExit:
        return None


NAMES = [
    "--format",
    "--interval",
    "--window",
    "--threshold",
    "--lateness",
    "--top",
    "--output",
    "--engine",
    "--workers",
    "--since",
    "--speed",
]
FLAGS = ["--utc", "--local", "-v", "--verbose", "-f", "--follow", "--no-dashboard"]
GOOD = {
    "--format": ["auto", "csv", "clf", "combined"],
    "--interval": ["1", "10", "2m", " 5s ", "1d"],
    "--window": ["120", "1", "1h"],
    "--threshold": ["10", "0", "0.5", ".5", "1.", "007"],
    "--lateness": ["0", "300", "5m"],
    "--top": ["1", "5", " 3"],
    "--output": ["text", "jsonl"],
    "--engine": ["auto", "native", "python"],
    "--workers": ["1", "2", "4"],
    "--since": ["now", "10m", "0"],
    "--speed": ["60", "0.5", "1."],
}
VALUES = [
    *sorted({v for vs in GOOD.values() for v in vs}),
    "",
    "0s",
    "1x",
    "-1",
    "-",
    "5",
    "abc",
    "\u0661",  # an Arabic-Indic one: a digit to str.isdigit, not to [0-9]
    "1.2.3",
    ".",
    "Jsonl",
    "now ",
    "1e3",
    "--top",
]
PATHS = ["a.log", "-", "", "b c", "x=y", "-x y", "-5", "--", "-h", "--help", "--version"]


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    """Command lines of options, values and files, mostly well formed."""
    out: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 9))
        if kind <= 3:
            name = draw(st.sampled_from(NAMES))
            value = draw(st.sampled_from(GOOD[name] if kind <= 1 else VALUES))
            if draw(st.booleans()):
                out.append(f"{name}={value}")
            else:
                out += [name, value]
        elif kind <= 5:
            out.append(draw(st.sampled_from(FLAGS)))
        elif kind == 6:
            out.append(draw(st.sampled_from(PATHS)))
        elif kind == 7:  # an abbreviation, or a name cut short at its end
            name = draw(st.sampled_from(NAMES + FLAGS))
            out.append(name[: draw(st.integers(1, len(name)))])
        else:
            out.append(draw(st.sampled_from(["a.log", "b.log.gz"])))
    return out


@settings(max_examples=1500, deadline=None)
@given(argvs())
@example(["a.log", "--top", "3", "b.log"])
@example(["--utc", "--local", "a"])
@example(["--local", "--local"])
@example(["--top", "-1"])
@example(["--top=-1"])
@example(["--output="])
@example(["--follow=1"])
@example(["-vf"])
@example(["--", "a"])
@example(["--threshold", "\u0661"])
def test_quick_args_agree_with_argparse(argv: list[str]) -> None:
    quick = _quick_args(argv)
    if quick is not None:
        assert vars(quick) == argparse_answer(argv)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(NAMES), max_size=5),
    st.lists(st.sampled_from(FLAGS[1:]), max_size=3),
    st.lists(st.sampled_from(["a.log", "-", "b c", "x=y"]), max_size=3),
    st.data(),
)
def test_quick_args_take_every_well_formed_line(
    names: list[str], flags: list[str], paths: list[str], data: st.DataObject
) -> None:
    # What scripts and people type: whole names, good values, files in one run.
    argv: list[str] = []
    for name in names:
        value = data.draw(st.sampled_from(GOOD[name]))
        argv += data.draw(st.sampled_from([[name, value], [f"{name}={value}"]]))
    argv += flags
    at = data.draw(st.integers(0, len(argv)))
    while at < len(argv) and argv[at - 1] in NAMES:
        at += 1  # not between an option and its value
    argv[at:at] = paths
    quick = _quick_args(argv)
    assert quick is not None, argv
    assert vars(quick) == argparse_answer(argv)


def test_defaults_are_argparses() -> None:
    assert argparse_answer([]) == DEFAULTS
    assert vars(parse_args([])) == DEFAULTS


def test_threshold_values() -> None:
    assert parse_args(["--threshold", "0.5"]).threshold == Fraction(1, 2)
    assert parse_args(["--threshold", "10"]).threshold == 10
    assert isinstance(parse_args(["--threshold", "10"]).threshold, int)


def test_version_as_argparse_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as quick:
        parse_args(["--version"])
    ours = capsys.readouterr()
    with pytest.raises(SystemExit) as full:
        build_parser().parse_args(["--version"])
    theirs = capsys.readouterr()
    assert (quick.value.code or 0) == (full.value.code or 0) == 0
    assert ours == theirs
    assert ours.out == f"hitwatch {__version__}\n"


def test_errors_still_come_from_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--top", "0", "a.log"])
    assert exc.value.code == 2
    assert "argument --top: expected a whole number of at least 1, got '0'" in (
        capsys.readouterr().err
    )


DURATION = re.compile(r"([0-9]+)([smhd]?)")
DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

texts = st.text(alphabet="0123456789.smhdx \t\u0661\n-", max_size=8)


@settings(max_examples=1000)
@given(texts)
@example("12\n")
@example("\u0661")
def test_value_checks_are_the_patterns_they_replace(text: str) -> None:
    # They were regular expressions; now they are written without `re`.
    m = DURATION.fullmatch(text.strip())
    if m is None:
        with pytest.raises(ValueError):
            _duration(text)
    else:
        assert _duration(text) == int(m.group(1)) * UNITS[m.group(2)]
    assert _decimal(text) == (DECIMAL.fullmatch(text) is not None)


def test_namespace_type() -> None:
    assert isinstance(parse_args(["a"]), SimpleNamespace)
    # argparse's path: "-x y" is a file name to it, which _quick_args leaves to it
    assert _quick_args(["-x y"]) is None
    assert vars(parse_args(["-x y"])) == {**DEFAULTS, "paths": ["-x y"]}
