"""Notifications from the outbox to real HTTP receivers (a server in this process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_service_support import BASE_TS, Receiver, Serve, main_jsonl, traffic, wait_for

OPTS = ["--lateness", "1", "--window", "10", "--threshold", "5", "--retry-max", "0.3"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def log_with_episodes(tmp_path: Path) -> Path:
    log = tmp_path / "access.log"
    text = "".join(
        traffic(60, start=BASE_TS + k * 60, base=1, spike=(10, 30), spike_rate=12) for k in range(4)
    )
    log.write_text(text)
    return log


def test_a_receiver_down_for_a_while_gets_every_alert_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    log = log_with_episodes(tmp_path)
    ref = [e for e in main_jsonl(log, "--lateness", "1", "--window", "10", "--threshold", "5")
           if e["type"] == "alert"]  # fmt: skip
    assert len(ref) == 8
    receiver.code = 503
    state = tmp_path / "state"
    s = Serve(["--state", str(state), "--notify", receiver.url, *OPTS, str(log)])
    try:
        # Ingestion goes on while the receiver fails: every alert is final and stored.
        s.wait_final(BASE_TS + 239)
        assert len(s.events("/api/v1/alerts", **{"from": BASE_TS, "to": BASE_TS + 300})) == 8
        wait_for(lambda: len(receiver.answers()) >= 3, 30, "retries")
        assert receiver.accepted() == []
        assert any("answered 503; retrying" in line for line in s.lines)
        # Killed while they wait in the outbox: a restart loses none.
        s.kill()
        s = Serve(["--state", str(state), "--notify", receiver.url, *OPTS, str(log)])
        receiver.code = 200
        wait_for(lambda: len(receiver.accepted()) >= 8, 60, "every alert delivered")
        got = receiver.accepted()
        assert len(got) == 8
        keys = [
            (p["alerts"][0]["fingerprint"], p["status"], p["alerts"][0]["startsAt"]) for p in got
        ]
        assert len(set(keys)) == 8
        assert len({k[0] for k in keys}) == 1  # one fingerprint per rule and group
        for payload, event in zip(got, ref, strict=True):
            check_payload(payload, event)
        # The receiver keeps a payload before its answer reaches the sender,
        # which counts it after: the count follows shortly.
        sent = f'hitwatch_notifications_total{{outcome="sent",receiver="webhook:{receiver.url}"}}'
        wait_for(lambda: s.metrics()[sent] == 8 or None, 10, "eight sent")
    finally:
        assert s.stop() == 0


def check_payload(payload: Any, event: dict[str, Any]) -> None:
    assert payload["version"] == "4"
    assert payload["status"] == event["state"]
    assert payload["receiver"] == "hitwatch"
    assert payload["groupLabels"] == {"alertname": "high_traffic"}
    (alert,) = payload["alerts"]
    assert alert["status"] == event["state"]
    assert alert["labels"] == {"alertname": "high_traffic", "severity": "warning"}
    summary = alert["annotations"]["summary"]
    if event["state"] == "firing":
        assert summary.startswith("High traffic generated an alert - hits = ")
        assert alert["startsAt"] == event["at"]
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    else:
        assert summary.startswith("High traffic alert recovered - hits = ")
        assert alert["endsAt"] == event["at"]
        assert alert["startsAt"].endswith("Z")
    assert alert["generatorURL"].startswith("http://127.0.0.1:")


def test_other_4xx_gives_up_with_one_line(tmp_path: Path, receiver: Receiver) -> None:
    log = log_with_episodes(tmp_path)
    receiver.code = 400
    s = Serve(["--notify", receiver.url, *OPTS, str(log)])
    try:
        wait_for(lambda: len(receiver.answers()) >= 8, 30, "every alert tried")
        s.wait_final(BASE_TS + 239)
        assert receiver.answers() == [400] * 8  # each tried once, never retried
        gave_up = [line for line in s.lines if "giving up" in line]
        assert len(gave_up) == 8 and "answered 400" in gave_up[0]
    finally:
        assert s.stop() == 0
