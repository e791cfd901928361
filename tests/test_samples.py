"""The two real logs in ../shared/data, end to end, through the CLI (skipped without them)."""

from __future__ import annotations

import gzip
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import APACHE_LOGS, SAMPLE_CSV, needs_data, run_bytes
from hitwatch.cli import main
from hitwatch.formats import make

pytestmark = needs_data


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def jsonl(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    code, out, _ = run_cli(capsys, "--output", "jsonl", *args)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def test_data_is_beside_the_repository() -> None:
    assert SAMPLE_CSV.is_file(), f"test data missing: {SAMPLE_CSV}"
    assert APACHE_LOGS.is_file(), f"test data missing: {APACHE_LOGS}"


def test_sample_csv_alerts(capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(capsys, str(SAMPLE_CSV))
    alerts = [(e["state"], e["ts"], e["hits"]) for e in events if e["type"] == "alert"]
    assert alerts == [
        ("firing", 1549573956, 1206),
        ("resolved", 1549574043, 1198),
        ("firing", 1549574163, 1218),
        ("resolved", 1549574302, 1196),
    ]
    first = next(e for e in events if e["type"] == "alert")
    top = first.pop("top")
    assert first == {
        "type": "alert",
        "rule": "high_traffic",
        "state": "firing",
        "ts": 1549573956,
        "at": "2019-02-07T21:12:36Z",
        "hits": 1206,
        "rate": 10.05,
        "threshold": 10,
        "window": 120,
        "kind": "rate_above",
    }
    # `top` (SPEC §9): the window's records, recounted here from the file.
    fmt = make("csv")
    rows = [fmt.parse_line(line) for line in SAMPLE_CSV.read_text().splitlines()[1:]]
    window = [r for r in rows if not isinstance(r, str) and 1549573956 - 120 < r[0] <= 1549573956]
    assert len(window) == 1206

    def ranked(values: list[str]) -> list[dict[str, Any]]:
        items = sorted(Counter(values).items(), key=lambda i: (-i[1], i[0]))[:3]
        return [{"name": name, "hits": hits} for name, hits in items]

    assert top == {
        "sections": ranked([r[2] for r in window]),
        "hosts": ranked([r[3] for r in window]),
        "status": ranked([f"{r[4][0]}xx" for r in window]),
    }
    resolved = [e for e in events if e.get("state") == "resolved"]
    assert [e["since_ts"] for e in resolved] == [1549573956, 1549574163]
    assert resolved[0]["rate"] == 9.983


def test_sample_csv_summary(capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(capsys, str(SAMPLE_CSV))
    summary = events[-1]
    assert summary["type"] == "summary"
    assert [e["type"] for e in events].count("summary") == 1
    assert summary["lines"] == 4831
    assert summary["records"] == 4830
    assert summary["headers"] == 1
    assert summary["invalid"] == 0
    assert summary["late"] == 0
    assert summary["empty"] == 0
    assert summary["first_ts"] == 1549573859
    assert summary["last_ts"] == 1549574340
    assert summary["alerts"] == 2
    assert summary["firing"] == []
    stats = [e for e in events if e["type"] == "stats"]
    assert sum(s["hits"] for s in stats) == 4830
    # Every interval from start to M, contiguous, the first starting at start,
    # the last ending at M + 1.
    assert stats[0]["start_ts"] == 1549573859
    assert stats[-1]["end_ts"] == 1549574341
    for a, b in itertools.pairwise(stats):
        assert a["end_ts"] == b["start_ts"]
        assert b["start_ts"] % 10 == 0


def test_sample_csv_text_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, str(SAMPLE_CSV))
    assert code == 0
    lines = out.splitlines()
    assert (
        "High traffic generated an alert - hits = 1206, triggered at 2019-02-07T21:12:36Z "
        "(10.05 req/s over 2m, threshold 10)"
    ) in lines
    assert (
        "High traffic alert recovered - hits = 1198, recovered at 2019-02-07T21:14:03Z "
        "(9.98 req/s over 2m, after 1m27s)"
    ) in lines
    assert (
        "High traffic generated an alert - hits = 1218, triggered at 2019-02-07T21:16:03Z "
        "(10.15 req/s over 2m, threshold 10)"
    ) in lines
    assert (
        "High traffic alert recovered - hits = 1196, recovered at 2019-02-07T21:18:22Z "
        "(9.97 req/s over 2m, after 2m19s)"
    ) in lines
    assert "Summary: 4831 lines = 4830 records + 0 late + 0 invalid + 1 headers + 0 empty" in lines
    assert "Traceback" not in err


def test_apache_logs_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(capsys, str(APACHE_LOGS))
    summary = events[-1]
    assert summary["lines"] == 10_000
    assert summary["records"] == 10_000
    assert summary["late"] == 0
    assert summary["invalid"] == 0
    assert summary["alerts"] == 0
    assert not [e for e in events if e["type"] == "alert"]
    stats = [e for e in events if e["type"] == "stats"]
    assert sum(s["hits"] for s in stats) == 10_000
    # Three and a half days at 10 s, every interval listed: runs of quiet ones as one line.
    quiet = [e for e in events if e["type"] == "quiet"]
    intervals = len(stats) + sum(q["intervals"] for q in quiet)
    assert intervals == (summary["last_ts"] // 10) - (summary["first_ts"] // 10) + 1


def test_apache_logs_detected_as_combined(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "--output", "jsonl", str(APACHE_LOGS))
    assert code == 0
    assert err.splitlines() == [f"hitwatch: {APACHE_LOGS}: detected format combined"]


def test_apache_logs_threshold_1_fires(capsys: pytest.CaptureFixture[str]) -> None:
    events = jsonl(capsys, "--threshold", "1", str(APACHE_LOGS))
    alerts = [e for e in events if e["type"] == "alert"]
    assert alerts, "peak traffic is about 1.1 req/s: --threshold 1 must fire"
    assert alerts[0]["state"] == "firing"
    assert all(a["hits"] > 120 for a in alerts if a["state"] == "firing")
    assert all(a["hits"] <= 120 for a in alerts if a["state"] == "resolved")
    states = [a["state"] for a in alerts]
    assert all(x != y for x, y in itertools.pairwise(states))
    assert events[-1]["alerts"] == states.count("firing")


def test_apache_logs_small_lateness_counts_late_lines(capsys: pytest.CaptureFixture[str]) -> None:
    # The log is shuffled within each minute: with 5 s of lateness lines are late,
    # counted, and the summary says which lateness would have kept them all.
    events = jsonl(capsys, "--lateness", "5", str(APACHE_LOGS))
    summary = events[-1]
    assert summary["late"] > 0
    assert summary["records"] + summary["late"] == 10_000
    assert 5 < summary["max_late"] <= 59
    stats = [e for e in events if e["type"] == "stats"]
    assert sum(s["late"] for s in stats) == summary["late"]
    kept = jsonl(capsys, "--lateness", str(summary["max_late"]), str(APACHE_LOGS))
    assert kept[-1]["late"] == 0
    assert kept[-1]["records"] == 10_000


@pytest.mark.parametrize("path", [SAMPLE_CSV, APACHE_LOGS], ids=["csv", "combined"])
def test_gzip_gives_identical_jsonl(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = run_cli(capsys, "--output", "jsonl", str(path))
    gz = tmp_path / (path.name + ".gz")
    gz.write_bytes(gzip.compress(path.read_bytes()))
    zipped = run_cli(capsys, "--output", "jsonl", str(gz))
    assert zipped[0] == plain[0] == 0
    assert zipped[1] == plain[1]


def test_in_process_helper_matches_cli(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--output", "jsonl", str(SAMPLE_CSV))
    assert code == 0
    assert run_bytes(SAMPLE_CSV.read_bytes()).out == out


def test_two_files_in_order_are_one_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = SAMPLE_CSV.read_bytes().splitlines(keepends=True)
    first, second = tmp_path / "a.log", tmp_path / "b.log.gz"
    first.write_bytes(b"".join(lines[:2000]))
    second.write_bytes(gzip.compress(b"".join([lines[0], *lines[2000:]])))
    whole = jsonl(capsys, str(SAMPLE_CSV))
    split = jsonl(capsys, str(first), str(second))
    assert split[:-1] == whole[:-1]
    assert split[-1]["lines"] == whole[-1]["lines"] + 1  # the second file's header
    assert split[-1]["headers"] == 2
