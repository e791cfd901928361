"""The engine, one SPEC rule at a time, each at its edge (SPEC §2–4).

Every script runs through the record-at-a-time reference engine and the batched
engine (one batch, and one record per batch); `engine_run` checks they agree.
"""

from __future__ import annotations

import io
import itertools
from fractions import Fraction

import pytest

from conftest import INVALID, alerts, engine_run, make_engine, row, rows_at, run_bytes, stats
from hitwatch.engine.core import Engine
from hitwatch.model import Quiet, Report
from hitwatch.outputs.text import TextSink

T0 = 1_700_000_000  # a multiple of 10 and of 60


# ------------------------------------------------------------- threshold


@pytest.mark.parametrize(("hits", "fires"), [(12, False), (13, True)])
def test_threshold_is_compared_as_a_rational(hits: int, fires: bool) -> None:
    # T = 0.1 over N = 120 s: more than 12 hits, exactly; 0.1 * 120 is not 12 in floats.
    ops = rows_at(*[T0 + 5] * hits, T0 + 200)
    events = engine_run(ops, threshold=Fraction("0.1"), window=120)
    got = alerts(events)
    if not fires:
        assert got == []
        return
    assert [(a["state"], a["ts"], a["hits"]) for a in got] == [
        ("firing", T0 + 5, 13),
        ("resolved", T0 + 125, 0),
    ]
    assert got[0]["threshold"] == 0.1
    assert got[0]["window"] == 120
    assert got[0]["rate"] == round(13 / 120, 3)


@pytest.mark.parametrize(("hits", "fires"), [(57, False), (58, True)])
def test_threshold_where_floats_round_down(hits: int, fires: bool) -> None:
    # 0.57 * 100 == 56.99999999999999 in floats: 57 hits must not fire.
    events = engine_run(rows_at(*[T0] * hits), threshold=Fraction("0.57"), window=100)
    assert bool(alerts(events)) is fires


def test_threshold_zero_fires_on_any_hit() -> None:
    events = engine_run(rows_at(T0 + 3, T0 + 20), threshold=0, window=10)
    assert [(a["state"], a["ts"]) for a in alerts(events)] == [
        ("firing", T0 + 3),
        ("resolved", T0 + 13),
        ("firing", T0 + 20),
    ]
    assert alerts(events)[0]["threshold"] == 0


# ---------------------------------------------------------------- window


def test_window_is_half_open_on_the_left() -> None:
    # (s - N, s]: 7 hits at t and 6 at t + 119 are 13 in the window at t + 119,
    # and at t + 120 the second t has left the window.
    ops = rows_at(*[T0] * 7, *[T0 + 119] * 6, T0 + 300)
    events = engine_run(ops, threshold=Fraction("0.1"), window=120)
    assert [(a["state"], a["ts"], a["hits"]) for a in alerts(events)] == [
        ("firing", T0 + 119, 13),
        ("resolved", T0 + 120, 6),
    ]
    resolved = alerts(events)[1]
    assert resolved["since_ts"] == T0 + 119


def test_window_does_not_reach_back_n_seconds() -> None:
    ops = rows_at(*[T0] * 7, *[T0 + 120] * 6)
    assert alerts(engine_run(ops, threshold=Fraction("0.1"), window=120)) == []


def test_alert_states_alternate_and_are_counted() -> None:
    ops = rows_at(*[T0] * 3, *[T0 + 50] * 3, T0 + 60)
    events = engine_run(ops, threshold=Fraction(2, 10), window=10)  # more than 2 hits
    assert [(a["state"], a["ts"]) for a in alerts(events)] == [
        ("firing", T0),
        ("resolved", T0 + 10),
        ("firing", T0 + 50),
        ("resolved", T0 + 60),
    ]
    assert events[-1]["alerts"] == 2
    assert events[-1]["firing"] == []


def test_summary_lists_rules_still_firing() -> None:
    # End of input never extends the timeline past M: still firing at the end.
    events = engine_run(rows_at(*[T0] * 5), threshold=0, window=120)
    assert [a["state"] for a in alerts(events)] == ["firing"]
    assert events[-1]["firing"] == ["high_traffic"]


# -------------------------------------------------------------- lateness


def test_lateness_boundary() -> None:
    # L = 5, M = T0 + 20: seconds up to M - L - 1 = T0 + 14 are final.
    m = T0 + 20
    ops = [row(T0 + 10), row(m), row(m - 5, host="kept"), row(m - 6, host="late")]
    events = engine_run(ops, lateness=5)
    summary = events[-1]
    assert summary["late"] == 1
    assert summary["records"] == 3
    assert summary["max_late"] == 6
    assert summary["lateness"] == 5
    hosts = {h["name"] for s in stats(events) for h in s["hosts"]}
    assert "kept" in hosts
    assert "late" not in hosts


def test_lateness_zero() -> None:
    ops = rows_at(T0, T0 + 1, T0 + 1, T0)
    summary = engine_run(ops, lateness=0)[-1]
    assert (summary["records"], summary["late"], summary["max_late"]) == (3, 1, 1)


def test_late_record_does_not_move_m() -> None:
    ops = [*rows_at(T0, T0 + 100, T0 + 10), row(T0 + 94)]
    events = engine_run(ops, lateness=5)
    # T0 + 10 is late (F = T0 + 94); T0 + 94 is late too: M stayed T0 + 100.
    assert events[-1]["late"] == 2
    assert events[-1]["last_ts"] == T0 + 100
    assert events[-1]["max_late"] == 90


def test_max_late_is_what_lateness_would_have_kept_them() -> None:
    ops = rows_at(T0, T0 + 200, T0 + 150, T0 + 190, T0 + 199)
    events = engine_run(ops, lateness=5)
    assert events[-1]["late"] == 2
    assert events[-1]["max_late"] == 50
    kept = engine_run(ops, lateness=50)
    assert kept[-1]["late"] == 0
    assert kept[-1]["max_late"] == 0
    assert engine_run(ops, lateness=49)[-1]["late"] == 1


def test_summary_text_names_the_lateness_needed() -> None:
    ops = rows_at(T0, T0 + 200, T0 + 150)
    engine = make_engine(lateness=5)
    engine.feed(ops)
    engine.finish()
    out = io.StringIO()
    sink = TextSink(out)
    sink.emit(engine.drain())
    sink.close(engine.summary(3))
    text = out.getvalue()
    assert "Summary: 3 lines = 2 records + 1 late + 0 invalid + 0 headers + 0 empty" in text
    assert "late lines: the latest arrived 50s behind the newest; --lateness 50" in text
    assert "(now 5)" in text


class _Writes(io.StringIO):
    calls = 0

    def write(self, text: str) -> int:
        self.calls += 1
        return super().write(text)


def test_text_output_writes_a_batch_of_events_at_once() -> None:
    # One write per batch: with PYTHONUNBUFFERED each write is a system call.
    engine = make_engine(lateness=0)
    engine.feed(rows_at(*range(T0, T0 + 60)))
    engine.finish()
    events = engine.drain()
    out = _Writes()
    TextSink(out).emit(events)
    assert out.calls == 1
    assert out.getvalue().count(" hits, ") == 6


# ------------------------------------------------------ start of timeline


def test_records_before_the_first_final_second_lower_start() -> None:
    # L = 5: nothing is final until M - 6 >= the smallest ts so far.
    ops = rows_at(T0 + 14, T0 + 8, T0 + 14, T0 + 13)
    events = engine_run(ops, lateness=5)
    assert events[-1]["first_ts"] == T0 + 8
    first = stats(events)[0]
    assert (first["start_ts"], first["end_ts"], first["hits"]) == (T0 + 8, T0 + 10, 1)
    assert first["rate"] == 0.5


def test_start_is_fixed_once_a_second_is_final() -> None:
    # After T0 + 20 arrives, T0 + 10 .. T0 + 14 are final: start is T0 + 10,
    # and T0 + 9 (before start) is late although no record was there.
    ops = rows_at(T0 + 10, T0 + 20, T0 + 9)
    events = engine_run(ops, lateness=5)
    assert events[-1]["first_ts"] == T0 + 10
    assert events[-1]["late"] == 1
    assert events[-1]["records"] == 2
    assert stats(events)[0]["start_ts"] == T0 + 10


def test_start_at_end_of_input_is_the_smallest_ts() -> None:
    events = engine_run(rows_at(T0 + 17, T0 + 12, T0 + 15))
    assert events[-1]["first_ts"] == T0 + 12
    assert [(s["start_ts"], s["end_ts"], s["hits"]) for s in stats(events)] == [
        (T0 + 12, T0 + 18, 3)
    ]


def test_seconds_before_start_count_zero() -> None:
    # Threshold 0 over 10 s: the alert fires at start, not before, and records
    # before start (late) never enter a window.
    ops = rows_at(T0 + 100, T0 + 120, T0 + 50, T0 + 99)
    events = engine_run(ops, lateness=5, threshold=0, window=10)
    assert events[-1]["late"] == 2
    assert [(a["state"], a["ts"], a["hits"]) for a in alerts(events)] == [
        ("firing", T0 + 100, 1),
        ("resolved", T0 + 110, 0),
        ("firing", T0 + 120, 1),
    ]


# --------------------------------------------------------------- reports


def test_empty_intervals_get_reports() -> None:
    events = engine_run(rows_at(T0 + 1, T0 + 55))
    got = [(s["start_ts"], s["end_ts"], s["hits"]) for s in stats(events)]
    assert got == [
        (T0 + 1, T0 + 10, 1),
        (T0 + 10, T0 + 20, 0),
        (T0 + 20, T0 + 30, 0),
        (T0 + 30, T0 + 40, 0),
        (T0 + 40, T0 + 50, 0),
        (T0 + 50, T0 + 56, 1),
    ]
    empty = stats(events)[1]
    assert empty["rate"] == 0
    assert empty["errors"] == 0
    assert empty["status"] == {}
    assert empty["sections"] == []
    assert empty["hosts"] == []


def test_empty_intervals_are_one_line_of_text() -> None:
    data = b'a - - [14/Nov/2023:22:13:21 +0000] "GET / HTTP/1.1" 200 5\n'
    data += b'a - - [14/Nov/2023:22:14:15 +0000] "GET / HTTP/1.1" 200 5\n'
    text = run_bytes(data, output="text").out
    assert "no traffic from 2023-11-14T22:13:30Z to 2023-11-14T22:14:10Z" in text
    assert text.count("no traffic") == 1
    assert text.count(" hits,") == 2


def test_empty_interval_with_invalid_lines_is_not_quiet() -> None:
    ops = [*rows_at(T0 + 1, T0 + 20), INVALID, *rows_at(T0 + 45)]
    events = engine_run(ops, lateness=5)
    # F was T0 + 14 when the invalid line was read: it belongs to [T0+10, T0+20).
    got = [(s["start_ts"], s["hits"], s["invalid"]) for s in stats(events)]
    assert got == [
        (T0 + 1, 1, 0),
        (T0 + 10, 0, 1),
        (T0 + 20, 1, 0),
        (T0 + 30, 0, 0),
        (T0 + 40, 1, 0),
    ]
    engine = make_engine(lateness=5)
    engine.feed(rows_at(T0 + 1, T0 + 20))
    engine.add_invalid()
    engine.feed(rows_at(T0 + 45))
    engine.finish()
    out = io.StringIO()
    TextSink(out).emit(engine.drain())
    text = out.getvalue()
    assert "(late 0, invalid 1)" in text
    assert "no traffic from 2023-11-14T22:13:50Z to 2023-11-14T22:14:00Z" in text


def test_last_partial_report_ends_at_m_plus_1() -> None:
    events = engine_run(rows_at(T0 + 20, T0 + 23))
    assert [(s["start_ts"], s["end_ts"]) for s in stats(events)] == [(T0 + 20, T0 + 24)]
    assert stats(events)[0]["rate"] == 0.5


def test_last_report_is_not_doubled_when_m_ends_an_interval() -> None:
    events = engine_run(rows_at(T0 + 20, T0 + 29))
    assert [(s["start_ts"], s["end_ts"]) for s in stats(events)] == [(T0 + 20, T0 + 30)]


def test_intervals_are_aligned_to_the_epoch() -> None:
    assert T0 % 60 == 20
    events = engine_run(rows_at(T0 + 7, T0 + 100), interval=60)
    got = [(s["start_ts"], s["end_ts"], s["hits"]) for s in stats(events)]
    assert got == [(T0 + 7, T0 + 40, 1), (T0 + 40, T0 + 100, 0), (T0 + 100, T0 + 101, 1)]


def test_report_contents() -> None:
    ops = [
        row(T0, section="/b", host="h2", status="200", method="GET", nbytes=10),
        row(T0 + 1, section="/a", host="h1", status="503", method="POST", nbytes=20),
        row(T0 + 2, section="/c", host="h3", status="200", method="GET", nbytes=30),
        row(T0 + 3, section="/a", host="h3", status="404", method="GET", nbytes=0),
    ]
    report = stats(engine_run(ops, top=2))[0]
    assert report["hits"] == 4
    assert report["bytes"] == 60
    assert report["rate"] == 1.0  # 4 hits over [T0, T0 + 4)
    assert report["status"] == {"2xx": 2, "4xx": 1, "5xx": 1}
    assert list(report["status"]) == ["2xx", "4xx", "5xx"]
    assert report["methods"] == {"GET": 3, "POST": 1}
    # Top 2, ties by name ascending.
    assert report["sections"] == [{"name": "/a", "hits": 2}, {"name": "/b", "hits": 1}]
    assert report["hosts"] == [{"name": "h3", "hits": 2}, {"name": "h1", "hits": 1}]
    assert report["errors"] == 0.25
    assert report["start"] == "2023-11-14T22:13:20Z"
    assert report["end"] == "2023-11-14T22:13:24Z"


def test_many_methods_are_capped() -> None:
    ops = [row(T0, method=f"M{i:02d}") for i in range(30)]
    methods = stats(engine_run(ops))[0]["methods"]
    assert len(methods) == 20
    assert methods["(other)"] == 11
    assert sum(methods.values()) == 30


# ------------------------------------------------------- order of events


def test_alert_comes_before_the_report_of_the_same_second() -> None:
    # 13 hits at T0 + 9 fire at T0 + 9, which also ends [T0, T0 + 10).
    ops = rows_at(*[T0 + 9] * 13, T0 + 200)
    events = engine_run(ops, threshold=Fraction("0.1"), window=120)
    kinds = [(e["type"], e.get("ts", e.get("end_ts"))) for e in events]
    assert kinds[:2] == [("alert", T0 + 9), ("stats", T0 + 10)]
    # And the recovery at T0 + 129 comes before the report ending at T0 + 130.
    i = kinds.index(("alert", T0 + 129))
    assert kinds[i + 1] == ("stats", T0 + 130)


def test_events_are_in_time_order() -> None:
    ops = rows_at(*[T0 + 9] * 13, T0 + 300, *[T0 + 400] * 20)
    events = engine_run(ops, threshold=Fraction("0.1"), window=120, lateness=5)
    times = [e["ts"] if e["type"] == "alert" else e["end_ts"] - 1 for e in events[:-1]]
    assert times == sorted(times)


# ------------------------------------------- late and invalid attribution


def test_invalid_before_anything_final_goes_to_the_first_report() -> None:
    # The first report is the one of the interval holding start (T0 + 8),
    # not the one of the first record read.
    ops = [INVALID, row(T0 + 12), INVALID, row(T0 + 8), row(T0 + 40)]
    events = engine_run(ops, lateness=5)
    got = [(s["start_ts"], s["hits"], s["invalid"]) for s in stats(events)]
    assert got == [
        (T0 + 8, 1, 2),
        (T0 + 10, 1, 0),
        (T0 + 20, 0, 0),
        (T0 + 30, 0, 0),
        (T0 + 40, 1, 0),
    ]


def test_invalid_lines_of_a_run_without_records_are_in_the_summary() -> None:
    events = engine_run([INVALID, INVALID])
    assert stats(events) == []
    assert events[-1]["invalid"] == 2
    assert events[-1]["records"] == 0
    assert events[-1]["first_ts"] is None
    assert events[-1]["last_ts"] is None


def test_late_and_invalid_go_to_the_interval_holding_f_plus_1() -> None:
    # L = 5, R = 10. After T0 + 18, F = T0 + 12: a late line (ts T0 + 3) and an
    # invalid one belong to [T0 + 10, T0 + 20), which holds F + 1.
    ops = [row(T0 + 3), row(T0 + 18), row(T0 + 3), INVALID, row(T0 + 30)]
    events = engine_run(ops, lateness=5)
    got = [(s["start_ts"], s["hits"], s["late"], s["invalid"]) for s in stats(events)]
    assert got == [(T0 + 3, 1, 0, 0), (T0 + 10, 1, 1, 1), (T0 + 20, 0, 0, 0), (T0 + 30, 1, 0, 0)]


def test_line_read_just_after_a_report_goes_to_the_next_one() -> None:
    # After T0 + 15, F = T0 + 9: [T0, T0 + 10) was just reported, so a late or
    # invalid line read now belongs to the interval holding F + 1 = T0 + 10.
    ops = [row(T0), row(T0 + 15), row(T0 + 2), INVALID, row(T0 + 16)]
    events = engine_run(ops, lateness=5)
    got = [(s["start_ts"], s["hits"], s["late"], s["invalid"]) for s in stats(events)]
    assert got == [(T0, 1, 0, 0), (T0 + 10, 2, 1, 1)]


def test_every_late_and_invalid_line_lands_in_exactly_one_report() -> None:
    ops = [
        row(T0),
        INVALID,
        row(T0 + 100),
        row(T0 + 1),
        INVALID,
        row(T0 + 200),
        row(T0 + 150),
        row(T0 + 190),
        INVALID,
    ]
    events = engine_run(ops, lateness=5)
    summary = events[-1]
    assert sum(s["late"] for s in stats(events)) == summary["late"] == 3
    assert sum(s["invalid"] for s in stats(events)) == summary["invalid"] == 3


# ---------------------------------------------------------- quiet gaps


def test_long_gap_lists_every_empty_interval() -> None:
    two_days = 2 * 86400
    events = engine_run(rows_at(T0, T0 + two_days))
    got = stats(events)
    assert len(got) == two_days // 10 + 1
    assert [s["hits"] for s in got] == [1] + [0] * (two_days // 10 - 1) + [1]
    assert all(b["start_ts"] == a["end_ts"] for a, b in itertools.pairwise(got))


def test_long_gap_is_one_event_not_one_per_interval() -> None:
    # A jump of ~95 years, with an alert firing into the gap: the engine must
    # not step second by second through it (it would never finish).
    engine = make_engine(threshold=0, window=120, lateness=5)
    engine.feed(rows_at(10, 3_000_000_000))
    events = engine.drain()
    engine.finish()
    events += engine.drain()
    assert len(events) < 50
    quiet = [e for e in events if isinstance(e, Quiet)]
    assert quiet
    covered = sum((q.end_ts - q.start_ts) // q.interval for q in quiet)
    covered += sum(1 for e in events if isinstance(e, Report))
    assert covered == 3_000_000_000 // 10 - 1 + 1
    out = io.StringIO()
    sink = TextSink(out)
    sink.emit(events)
    sink.close(engine.summary(2))
    # Quiet until the recovery, the recovery line, quiet again: two lines in all.
    text = out.getvalue().splitlines()
    assert [line.split(" - ")[0] for line in text if not line.startswith(" ")][2:5] == [
        "no traffic from 1970-01-01T00:00:20Z to 1970-01-01T00:02:10Z",
        "High traffic alert recovered",
        "no traffic from 1970-01-01T00:02:10Z to 2065-01-24T05:20:00Z",
    ]


def test_long_gap_batched_feed_matches() -> None:
    ops = [*rows_at(*[T0] * 20), INVALID, *rows_at(T0 + 86400 * 3, T0 + 86400 * 3 - 200)]
    events = engine_run(ops, threshold=Fraction(1, 10), lateness=300)
    assert events[-1]["late"] == 0
    assert [a["state"] for a in alerts(events)] == ["firing", "resolved"]


# ------------------------------------------------------------ misc API


def test_summary_accounting() -> None:
    engine = make_engine(lateness=0)
    engine.add_skipped(headers=2, empty=3)
    engine.feed(rows_at(T0, T0 + 5, T0 + 1))
    engine.add_invalid(4)
    engine.finish()
    s = engine.summary(12)
    assert (s.lines, s.records, s.late, s.invalid, s.headers, s.empty) == (12, 2, 1, 4, 2, 3)
    assert s.lines == s.records + s.late + s.invalid + s.headers + s.empty


def test_feed_after_finish_is_an_error() -> None:
    engine = make_engine()
    engine.feed(rows_at(T0))
    engine.finish()
    engine.finish()  # idempotent
    with pytest.raises(RuntimeError):
        engine.feed(rows_at(T0 + 1))
    with pytest.raises(RuntimeError):
        engine.feed_columns([T0 + 1], [1], ["/a"], ["h"], ["200"], ["GET"])


def test_advance_to_makes_seconds_final() -> None:
    engine = make_engine(lateness=5, threshold=0, window=10)
    engine.advance_to(T0 + 100)  # nothing started: nothing happens
    assert engine.drain() == []
    engine.feed(rows_at(T0 + 1))
    engine.advance_to(T0 + 30)
    events = engine.drain()
    assert [type(e).__name__ for e in events][:2] == ["Alert", "Report"]
    reports = [r for e in events if isinstance(e, Quiet) for r in e.reports()]
    reports += [e for e in events if isinstance(e, Report)]
    assert sorted(r.end_ts for r in reports) == [T0 + 10, T0 + 20, T0 + 30]
    assert engine.start == T0 + 1
    engine.feed(rows_at(T0 + 30))  # now late: T0 + 30 is final
    assert engine.late == 1


@pytest.mark.parametrize(
    "kwargs", [{"interval": 0}, {"lateness": -1}, {"top": -1}], ids=["interval", "lateness", "top"]
)
def test_engine_rejects_bad_options(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Engine(**kwargs)  # type: ignore[arg-type]
