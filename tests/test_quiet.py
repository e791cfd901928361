"""Runs of empty intervals in JSON lines (SPEC §10)."""

from __future__ import annotations

import io
import json

from conftest import csv_log, run_bytes
from hitwatch.model import Alert, Event, Quiet, Report, Summary, empty_report
from hitwatch.outputs.jsonl import JsonlSink

BASE = 1_700_000_000


def lines_of(events: list[Event], *, quiet: bool = True) -> list[dict[str, object]]:
    """The JSON lines of `events`, then of the summary, which ends any run (left out)."""
    out = io.StringIO()
    sink = JsonlSink(out, quiet=quiet)
    sink.emit(events)
    sink.close(Summary(0, 0, 0, 0, 0, 0, None, None, 0, (), 0, 5))
    return [json.loads(line) for line in out.getvalue().splitlines()][:-1]


def busy(start: int) -> Report:
    return Report(start, start + 10, 1, 1, (("2xx", 1),), (("GET", 1),), (), (), 0, 0, 0)


def test_a_run_of_two_or_more_is_one_quiet_line() -> None:
    got = lines_of([busy(BASE), Quiet(BASE + 10, BASE + 40, 10), busy(BASE + 40)])
    assert [g["type"] for g in got] == ["stats", "quiet", "stats"]
    assert got[1] == {
        "type": "quiet",
        "start_ts": BASE + 10,
        "end_ts": BASE + 40,
        "intervals": 3,
        "start": "2023-11-14T22:13:30Z",
        "end": "2023-11-14T22:14:00Z",
    }


def test_one_empty_interval_stays_a_stats_line() -> None:
    got = lines_of([busy(BASE), empty_report(BASE + 10, BASE + 20), busy(BASE + 20)])
    assert [g["type"] for g in got] == ["stats", "stats", "stats"]
    assert got[1]["hits"] == 0


def test_empty_reports_and_quiet_events_join_one_run() -> None:
    events = [
        busy(BASE),
        empty_report(BASE + 10, BASE + 20),
        Quiet(BASE + 20, BASE + 50, 10),
        empty_report(BASE + 50, BASE + 60),
        busy(BASE + 60),
    ]
    got = lines_of(events)
    assert [g["type"] for g in got] == ["stats", "quiet", "stats"]
    assert got[1]["intervals"] == 5


def test_an_alert_ends_a_run() -> None:
    alert = Alert("r", "rate_below", "firing", BASE + 35, 0, 10, 1)
    events = [busy(BASE), Quiet(BASE + 10, BASE + 30, 10), alert, Quiet(BASE + 30, BASE + 60, 10)]
    got = lines_of(events)
    assert [g["type"] for g in got] == ["stats", "quiet", "alert", "quiet"]


def test_live_runs_write_every_interval() -> None:
    got = lines_of([busy(BASE), Quiet(BASE + 10, BASE + 40, 10)], quiet=False)
    assert [g["type"] for g in got] == ["stats", "stats", "stats", "stats"]


def test_a_log_spanning_years_is_a_few_lines() -> None:
    """Nine lines years apart once made millions of stats lines."""
    seconds = [BASE - 300_000_000 + i * 40_000_000 for i in range(9)]
    result = run_bytes(csv_log(*seconds))
    assert len(result.lines) < 40
    assert sum(1 for o in result.objects if o["type"] == "quiet") == 8
    assert result.summary["records"] == 9
