"""The command line (SPEC §7): options, sources, exit status, stderr notes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import CSV_HEADER, ROOT, SAMPLE_CSV, csv_line, needs_data
from hitwatch import __version__, cli
from hitwatch.cli import InvalidLog, main

TS = 1549573860
SAMPLE_ALERTS = [
    ("firing", 1549573956),
    ("resolved", 1549574043),
    ("firing", 1549574163),
    ("resolved", 1549574302),
]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_module(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "hitwatch", *args],
        env=env,
        timeout=120,
        check=False,
        **kwargs,
    )


def assert_usage_error(code: int, err: str, *needles: str) -> None:
    """Exit 2, no traceback, and exactly one line that says what is wrong."""
    assert code == 2
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert errors[0].startswith("hitwatch: error: ")
    assert err.splitlines()[-1] == errors[0]
    for needle in needles:
        assert needle in errors[0]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "access.csv"
    path.write_text("\n".join([CSV_HEADER, *[csv_line(TS + i) for i in range(30)]]) + "\n")
    return path


# ------------------------------------------------------------------ sources


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.log"
    code, out, err = run_cli(capsys, str(missing))
    assert_usage_error(code, err, str(missing), "no such file")
    assert out == ""


def test_missing_file_among_others_reads_nothing(
    capsys: pytest.CaptureFixture[str], log: Path, tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, str(log), str(tmp_path / "nope.log"))
    assert_usage_error(code, err, "nope.log")
    assert out == ""


def test_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, str(tmp_path))
    assert_usage_error(code, err, str(tmp_path), "is a directory")
    assert out == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    log.chmod(0)
    try:
        code, out, err = run_cli(capsys, str(log))
    finally:
        log.chmod(0o644)
    assert_usage_error(code, err, str(log), "permission denied")
    assert out == ""


@needs_data
def test_truncated_gzip_is_reported_after_what_was_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = gzip.compress(SAMPLE_CSV.read_bytes())
    broken = tmp_path / "cut.log.gz"
    broken.write_bytes(data[: len(data) // 2])
    code, out, err = run_cli(capsys, "--output", "jsonl", str(broken))
    assert code == 2
    assert "Traceback" not in err
    assert f"hitwatch: error: {broken}: compressed file ends early" in err.splitlines()
    summary = json.loads(out.splitlines()[-1])
    assert summary["type"] == "summary"
    assert 0 < summary["records"] < 4830


def test_stdin_twice(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "-", "-")
    assert_usage_error(code, err, "standard input")


# ------------------------------------------------------------------ options


@pytest.mark.parametrize(
    "args",
    [
        ["--interval", "-5"],
        ["--interval", "abc"],
        ["--interval", "0"],
        ["--interval", "1.5"],
        ["--window", "0"],
        ["--window", "-1"],
        ["--threshold", "-1"],
        ["--threshold", "abc"],
        ["--threshold", "1/2"],
        ["--threshold", "nan"],
        ["--top", "0"],
        ["--top", "-3"],
        ["--top", "x"],
        ["--lateness", "-1"],
        ["--format", "xml"],
        ["--output", "yaml"],
        ["--utc", "--local"],
        ["--no-such-option"],
    ],
    ids=lambda a: " ".join(a),
)
def test_bad_options(capsys: pytest.CaptureFixture[str], log: Path, args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*args, str(log)])
    err = capsys.readouterr().err
    assert_usage_error(int(str(exc.value.code)), err)


def test_option_values_are_named_in_the_error(
    capsys: pytest.CaptureFixture[str], log: Path
) -> None:
    with pytest.raises(SystemExit):
        main(["--threshold", "abc", str(log)])
    err = capsys.readouterr().err
    assert "--threshold" in err
    assert "'abc'" in err


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--interval", "1m"], 60),
        (["--interval", "90s"], 90),
        (["--interval", "1h"], 3600),
        (["--window", "2m", "--threshold", "0.5"], None),
        (["--threshold", ".5"], None),
        (["--threshold", "10."], None),
        (["--lateness", "0"], None),
        (["--top", "1"], None),
    ],
)
def test_good_options(
    capsys: pytest.CaptureFixture[str], log: Path, args: list[str], expect: int | None
) -> None:
    code, out, err = run_cli(capsys, "--output", "jsonl", *args, str(log))
    assert code == 0, err
    stats = [json.loads(line) for line in out.splitlines()[:-1]]
    if expect is not None:
        assert all(s["start_ts"] // expect == (s["end_ts"] - 1) // expect for s in stats)


def test_fractional_threshold_in_output(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    code, out, _ = run_cli(
        capsys, "--output", "jsonl", "--threshold", "0.1", "--window", "10", str(log)
    )
    assert code == 0
    alerts = [json.loads(x) for x in out.splitlines() if '"alert"' in x]
    assert alerts
    assert alerts[0]["threshold"] == 0.1
    assert alerts[0]["window"] == 10
    code, out, _ = run_cli(capsys, "--threshold", "0.1", "--window", "10", str(log))
    assert "threshold 0.1)" in out


# ------------------------------------------------------------------ verbose


class FakeClock:
    def __init__(self, times: Iterator[float]) -> None:
        self._times = times

    def __call__(self) -> float:
        return next(self._times)


def invalid_log_with(monkeypatch: pytest.MonkeyPatch, clock: Callable[[], float]) -> None:
    """Make the CLI's InvalidLog read `clock` instead of the wall clock."""

    class Clocked(InvalidLog):
        def __init__(self, write: Callable[[str], None], per_second: int = 10) -> None:
            super().__init__(write, per_second, clock=clock)

    monkeypatch.setattr(cli, "InvalidLog", Clocked)


def bad_log(tmp_path: Path, bad: int) -> Path:
    lines = [CSV_HEADER, csv_line(TS)]
    lines += [f"bad line {i}" for i in range(bad)]
    lines.append(csv_line(TS + 1, status=999))
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_verbose_names_line_and_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invalid_log_with(monkeypatch, FakeClock(iter([0.0] * 100)))
    path = bad_log(tmp_path, 2)
    code, _, err = run_cli(capsys, "--verbose", "--format", "csv", str(path))
    assert code == 0
    assert err.splitlines() == [
        f"hitwatch: {path}:3: invalid line: 1 CSV fields, expected 7",
        f"hitwatch: {path}:4: invalid line: 1 CSV fields, expected 7",
        f"hitwatch: {path}:5: invalid line: bad status",
    ]


def test_verbose_is_rate_limited(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # All 25 invalid lines within the same second of wall time: 10 shown.
    invalid_log_with(monkeypatch, FakeClock(iter([5.0] * 100)))
    code, _, err = run_cli(capsys, "--verbose", "--format", "csv", str(bad_log(tmp_path, 24)))
    assert code == 0
    shown = [line for line in err.splitlines() if "invalid line:" in line]
    assert len(shown) == 10
    assert shown[0].endswith(":3: invalid line: 1 CSV fields, expected 7")
    assert err.splitlines()[-1] == "hitwatch: 15 more invalid lines not shown"


def test_verbose_shows_more_as_time_passes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A quarter of a second per line: at most 10 in any one second window.
    invalid_log_with(monkeypatch, FakeClock(x * 0.25 for x in range(1000)))
    code, _, err = run_cli(capsys, "--verbose", "--format", "csv", str(bad_log(tmp_path, 24)))
    assert code == 0
    shown = [line for line in err.splitlines() if "invalid line:" in line]
    assert len(shown) == 25
    assert "not shown" not in err


def test_invalid_log_window() -> None:
    out: list[str] = []
    times = iter([0.0, 0.1, 0.2, 0.3, 0.99, 1.0, 1.5, 1.9, 2.0])
    log = InvalidLog(out.append, per_second=3, clock=lambda: next(times))
    for i in range(9):
        log("src", i, "why")
    # [0, 1): 3 of 5 shown; [1, 2): 3 shown; 2.0 starts a new window.
    assert [int(line.split(":")[1]) for line in out] == [0, 1, 2, 5, 6, 7, 8]
    assert log.suppressed == 2
    assert out[0] == "src:0: invalid line: why"


def test_verbose_escapes_control_characters_in_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad\x1b[31mname.csv"
    path.write_text("garbage\n")
    code, _, err = run_cli(capsys, "--verbose", "--format", "csv", str(path))
    assert code == 2  # its only line is invalid
    assert "\x1b" not in err
    assert "bad\\x1b[31mname.csv:1: invalid line" in err


def test_without_verbose_invalid_lines_are_quiet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "--format", "csv", str(bad_log(tmp_path, 5)))
    assert code == 0
    assert err == ""


# ---------------------------------------------------------------- time zone


@pytest.fixture
def india(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "IST-5:30")  # POSIX form: UTC+05:30, no DST, no tzdata needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@needs_data
@pytest.mark.usefixtures("india")
def test_local_and_utc(capsys: pytest.CaptureFixture[str]) -> None:
    code, utc, _ = run_cli(capsys, str(SAMPLE_CSV))
    assert code == 0
    assert run_cli(capsys, "--utc", str(SAMPLE_CSV))[1] == utc
    assert "triggered at 2019-02-07T21:12:36Z (" in utc
    code, local, _ = run_cli(capsys, "--local", str(SAMPLE_CSV))
    assert code == 0
    assert "triggered at 2019-02-08T02:42:36+05:30 (" in local
    assert "recovered at 2019-02-08T02:44:03+05:30 (" in local
    assert "log time 2019-02-08T02:40:59+05:30 to 2019-02-08T02:49:00+05:30" in local
    assert "Z " not in local
    # jsonl is always UTC.
    jsonl_local = run_cli(capsys, "--output", "jsonl", "--local", str(SAMPLE_CSV))[1]
    assert jsonl_local == run_cli(capsys, "--output", "jsonl", str(SAMPLE_CSV))[1]


# ---------------------------------------------------------------- detection


def test_detection_note_once_per_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    lines = [CSV_HEADER, *[csv_line(TS + i // 50) for i in range(20_000)]]
    big.write_text("\n".join(lines) + "\n")
    assert big.stat().st_size > 4 * (1 << 17)  # several blocks
    code, _, err = run_cli(capsys, "--output", "jsonl", str(big))
    assert code == 0
    assert err.splitlines() == [f"hitwatch: {big}: detected format csv"]
    code, _, err = run_cli(capsys, "--output", "jsonl", str(big), str(big))
    assert err.splitlines() == [f"hitwatch: {big}: detected format csv"] * 2


def test_no_note_when_format_is_given(capsys: pytest.CaptureFixture[str], log: Path) -> None:
    code, _, err = run_cli(capsys, "--format", "csv", str(log))
    assert code == 0
    assert err == ""


def test_detection_is_not_fooled_by_a_garbage_first_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "mixed.log"
    path.write_text("garbage\n" + "\n".join(csv_line(TS + i) for i in range(10)) + "\n")
    code, out, err = run_cli(capsys, "--output", "jsonl", str(path))
    assert code == 0
    assert err.splitlines() == [f"hitwatch: {path}: detected format csv"]
    assert json.loads(out.splitlines()[-1])["records"] == 10


# ----------------------------------------------------------- runs and exits


def test_only_invalid_lines_exits_2_with_a_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Not one line of a source could be read (issue 19): the summary, and exit 2."""
    path = tmp_path / "junk.log"
    path.write_text("this is not\na log\n\n")
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert "Traceback" not in err
    assert "not one line could be read" in err
    assert out.splitlines() == [
        "Summary: 3 lines = 0 records + 0 late + 2 invalid + 0 headers + 1 empty",
        "  no records",
        "  alerts raised 0, still firing: none",
    ]
    code, out, _ = run_cli(capsys, "--output", "jsonl", str(path))
    assert code == 2
    summary = json.loads(out)
    assert summary["type"] == "summary"
    assert (summary["lines"], summary["invalid"], summary["records"]) == (3, 2, 0)
    assert summary["first_ts"] is None
    assert summary["last_ts"] is None


def test_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    code, out, err = run_cli(capsys, "--output", "jsonl", str(path))
    assert code == 0
    assert json.loads(out)["lines"] == 0
    assert err == ""


@needs_data
def test_alerts_are_not_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--threshold", "0", str(SAMPLE_CSV))
    assert code == 0
    assert "High traffic generated an alert" in out


# --------------------------------------------------------------- subprocess


def test_version_and_help() -> None:
    version = run_module("--version")
    assert version.returncode == 0
    assert version.stdout.decode().strip() == f"hitwatch {__version__}"
    helped = run_module("--help")
    assert helped.returncode == 0
    text = helped.stdout.decode()
    assert text.startswith("usage: hitwatch")
    for option in ("--interval", "--window", "--threshold", "--lateness", "--output", "--local"):
        assert option in text
    assert helped.stderr == b""


@needs_data
def test_stdin_pipe_is_live() -> None:
    proc = run_module("--output", "jsonl", "-", input=SAMPLE_CSV.read_bytes())
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    alerts = [(e["state"], e["ts"]) for e in events if e["type"] == "alert"]
    assert alerts == SAMPLE_ALERTS
    summary = events[-1]
    assert summary["lateness"] == 5  # a pipe is live
    assert (summary["lines"], summary["records"], summary["late"]) == (4831, 4830, 0)
    assert proc.stderr.decode().splitlines() == ["hitwatch: <stdin>: detected format csv"]


@needs_data
def test_stdin_redirected_from_a_file_is_finite() -> None:
    with SAMPLE_CSV.open("rb") as f:
        proc = run_module("--output", "jsonl", stdin=f)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.decode().splitlines()[-1])
    assert summary["lateness"] == 300
    assert summary["records"] == 4830


def test_bad_option_in_a_subprocess_has_no_traceback(tmp_path: Path) -> None:
    proc = run_module("--interval", "-5", str(tmp_path))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert_usage_error(proc.returncode, err, "--interval")
    proc = run_module(str(tmp_path / "missing"))
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        f"hitwatch: error: {tmp_path / 'missing'}: no such file or directory"
    ]


@needs_data
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("output", ["text", "jsonl"])
def test_output_that_cannot_be_written_is_one_error_line(output: str) -> None:
    # A full disk behind stdout: one clear line and exit 1, not a traceback.
    with open("/dev/full", "wb") as full:
        proc = run_module("--output", output, str(SAMPLE_CSV), stdout=full)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "hitwatch: error: writing the output: No space left on device"


@needs_data
def test_the_command_ends_with_everything_written(tmp_path: Path) -> None:
    # The command skips the interpreter's teardown (os._exit): what it wrote
    # must be flushed first, to a file as to a pipe, and the exit status kept.
    out = tmp_path / "out.jsonl"
    with out.open("wb") as f:
        proc = run_module("--output", "jsonl", str(SAMPLE_CSV), stdout=f)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert json.loads(lines[-1])["records"] == 4830
    assert len(lines) == len(run_module("--output", "jsonl", str(SAMPLE_CSV)).stdout.splitlines())
    assert run_module(str(tmp_path / "missing")).returncode == 2
    assert run_module("--interval", "0", str(SAMPLE_CSV)).returncode == 2
    assert run_module("--version").stdout.decode().strip() == f"hitwatch {__version__}"


@pytest.mark.usefixtures("india")
@pytest.mark.parametrize("args", [[], ["--local"], ["--output", "jsonl"]], ids=str)
def test_the_last_second_a_log_can_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]
) -> None:
    # 9999-12-31T23:59:59Z is accepted; its report ends one second later, and
    # east of UTC it is already year 10000: times must still format.
    path = tmp_path / "edge.csv"
    path.write_text(csv_line(253402300799) + "\n" + csv_line(253402300798) + "\n")
    code, out, err = run_cli(capsys, *args, str(path))
    assert code == 0, err
    assert "Traceback" not in err
    if args == ["--output", "jsonl"]:
        report = json.loads(out.splitlines()[0])
        assert (report["start"], report["end"]) == ("9999-12-31T23:59:58Z", "10000-01-01T00:00:00Z")
    elif args == ["--local"]:
        assert "10000-01-01T05:29:58+05:30 – 05:30:00+05:30  2 hits" in out
    else:
        assert "9999-12-31T23:59:58Z – 10000-01-01T00:00:00Z  2 hits" in out
