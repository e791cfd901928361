"""The service's store, ids and query parameters, without a server."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from hitwatch.model import Alert, Quiet, Report, empty_report
from hitwatch.service import ids, params
from hitwatch.service.hub import sse_frame
from hitwatch.service.store import OutboxItem, StateError, Store


def report(start: int, hits: int = 1) -> Report:
    return Report(start, start + 10, hits, 10, (("2xx", hits),), (("GET", hits),), (), (), 0, 0, 0)


def alert(state: str, ts: int) -> Alert:
    since = ts - 30 if state == "resolved" else None
    return Alert("high_traffic", "rate_above", state, ts, 1300, 120, Fraction(10), since)


def test_ids_are_those_of_spec_11() -> None:
    assert ids.event_id(report(100)) == "stats:100"
    assert ids.event_id(Quiet(200, 400, 10)) == "quiet:200"
    assert ids.event_id(alert("firing", 150)) == "alert:high_traffic:-:firing:150"
    q = ids.stored(Quiet(200, 400, 10))
    assert q is not None and json.loads(q.body) == {
        "id": "quiet:200",
        "type": "quiet",
        "start_ts": 200,
        "end_ts": 400,
        "intervals": 20,
        "start": "1970-01-01T00:03:20Z",
        "end": "1970-01-01T00:06:40Z",
    }
    assert ids.group_key((("section", "/a b\n:"),)) == "section=%2Fa%20b%0A%3A"
    assert ids.fingerprint("r", ()) == ids.fingerprint("r", ()) != ids.fingerprint("r2", ())


def test_pages_follow_time_then_sequence_not_commit_order(tmp_path: Path) -> None:
    """Alerts are committed as rules raise them, not in time order: a page is
    in (start, sequence) order, joined whole, and its cursor is its last row."""
    store = Store(str(tmp_path / "state"))
    times = [50, 20, 90, 20, 70, 10, 30]
    stored = [ids.stored(alert("firing", t)) for t in times[:2]]
    stored += [ids.stored(alert("resolved", t)) for t in times[2:]]
    store.commit([e for e in stored if e is not None], [], {})
    every = json.loads(store.page("alert", 0, 100, 100).json)
    assert [e["ts"] for e in every] == sorted(times[:2] + times[2:])
    cursor = None
    seen: list[dict[str, object]] = []
    for _ in times:  # pages of 2: the last is full and has no next
        page = store.page("alert", 0, 100, 2, after=cursor)
        seen += json.loads(page.json)
        cursor = page.next
        if cursor is None:
            break
    assert seen == every
    exact = store.page("alert", 0, 100, len(times))
    assert exact.next is None and json.loads(exact.json) == every
    assert store.page("alert", 200, 300, 5).json == b"[]"


def test_frames_after_are_the_hubs_frames_in_emission_order(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "state"))
    events = [ids.stored(e) for e in (report(10), alert("firing", 5), report(0), Quiet(20, 90, 10))]
    store.commit([e for e in events if e is not None], [], {})
    frames = [sse_frame(eid, json.loads(body)["type"], body) for eid, body in store.all_events()]
    assert store.frames_after(0, 10) == (4, 4, b"".join(frames))
    assert store.frames_after(1, 2) == (2, 3, frames[1] + frames[2])
    assert store.frames_after(4, 10) == (0, 4, b"")


def test_each_event_once_pages_overlap_and_retention(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "state"))
    events = [ids.stored(report(s)) for s in range(0, 100, 10)]
    events.append(ids.stored(Quiet(100, 1000, 10)))
    events.append(ids.stored(empty_report(1000, 1010)))
    events.append(ids.stored(alert("firing", 55)))
    stored = [e for e in events if e is not None]
    new = store.commit(stored, [OutboxItem("w", "alert:high_traffic:-:firing:55", "{}", 56)], {})
    assert len(new) == len(stored)
    assert store.commit(stored, [], {}) == []  # each id once
    page = store.page("report", 0, 50, 3)
    assert [b["start_ts"] for b in json.loads(page.json)] == [0, 10, 20]
    assert page.next is not None
    rest = store.page("report", 0, 50, 10, after=page.next)
    assert [b["start_ts"] for b in json.loads(rest.json)] == [30, 40] and rest.next is None
    # A range inside the quiet run gets the run (it overlaps); one inside an interval, that one.
    assert [b["id"] for b in json.loads(store.page("report", 500, 600, 10).json)] == ["quiet:100"]
    assert [b["id"] for b in json.loads(store.page("report", 15, 16, 10).json)] == ["stats:10"]
    assert [
        b["id"] for b in json.loads(store.page("alert", 0, 100, 10, rule="high_traffic").json)
    ] == ["alert:high_traffic:-:firing:55"]
    assert store.pending("w") == [(1, "alert:high_traffic:-:firing:55", "{}")]
    store.mark(1, "sent", 1)
    # Retention in log time: what ended at or before 60 goes, with its sent notification.
    assert store.prune(60) == 7
    assert [i for i, _ in store.all_events()] == [
        "stats:60",
        "stats:70",
        "stats:80",
        "stats:90",
        "quiet:100",
        "stats:1000",
    ]
    assert store.outbox_counts() == {}
    store.close()


def test_state_directories(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    with pytest.raises(StateError, match="not empty and not a hitwatch state directory"):
        Store(str(tmp_path / "full"))
    store = Store(str(tmp_path / "ok"))
    with pytest.raises(StateError, match="in use by another hitwatch serve"):
        Store(str(tmp_path / "ok"))
    store.close()
    Store(str(tmp_path / "ok")).close()  # a directory a run left is taken back


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1700000000", 1700000000),
        ("2023-11-14T22:13:20Z", 1700000000),
        ("2023-11-14T23:13:20+01:00", 1700000000),
        ("2023-11-14", 1699920000),
    ],
)
def test_times(text: str, value: int) -> None:
    assert params.parse_time("from", text) == value


@pytest.mark.parametrize("text", ["", "-1", "1.5", "1e9", "tomorrow", "9" * 30, "２０２３"])
def test_bad_times(text: str) -> None:
    with pytest.raises(params.BadRequest):
        params.parse_time("from", text)
