"""`hitwatch serve`'s HTTP API against a real uvicorn on a loopback port, with httpx."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from test_service_support import BASE_TS, Serve, csv_line, main_jsonl, traffic, wait_for

SECONDS = 600
M = BASE_TS + SECONDS - 1
OPTS = ["--lateness", "1", "--window", "60", "--threshold", "10"]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "access.log"
    path.write_text(traffic(SECONDS, base=2, spike=(100, 300), spike_rate=30))
    return path


@pytest.fixture(scope="module")
def served(log: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    state = tmp_path_factory.mktemp("state")
    s = Serve(["--state", str(state), *OPTS, str(log)])
    s.wait_final(M)
    yield s
    assert s.stop() == 0


def reference(log: Path) -> list[dict[str, Any]]:
    return main_jsonl(log, "--lateness", "1", "--window", "60", "--threshold", "10")


def test_metrics_equal_the_summary(served: Serve, log: Path) -> None:
    summary = reference(log)[-1]
    m = served.metrics()
    requests = sum(v for k, v in m.items() if k.startswith("hitwatch_requests_total{"))
    assert requests == summary["records"] == SECONDS * 2 + 200 * 28
    assert m['hitwatch_lines_total{outcome="record"}'] == summary["records"]
    assert m['hitwatch_alerts_total{rule="high_traffic"}'] == summary["alerts"] == 1
    assert m['hitwatch_alert_firing{group="",rule="high_traffic"}'] == 0
    assert m["hitwatch_log_time_seconds"] >= M
    sections = sum(v for k, v in m.items() if k.startswith("hitwatch_section_requests_total{"))
    assert sections == requests
    expected_bytes = sum(int(line.rsplit(",", 1)[1]) for line in log.read_text().splitlines())
    assert m["hitwatch_response_bytes_total"] == expected_bytes


def test_openmetrics_when_asked(served: Serve) -> None:
    r = served.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")


def test_reports_and_alerts_are_the_main_commands(served: Serve, log: Path) -> None:
    ref = reference(log)
    last_whole = (M // 10) * 10
    want_stats = [e for e in ref if e["type"] == "stats" and e["end_ts"] <= last_whole]
    got = served.events("/api/v1/reports", **{"from": BASE_TS, "to": last_whole})
    assert [e.pop("id") for e in got] == [f"stats:{e['start_ts']}" for e in want_stats]
    assert got == want_stats
    want_alerts = [e for e in ref if e["type"] == "alert"]
    got_alerts = served.events(
        "/api/v1/alerts", **{"from": BASE_TS, "to": M, "rule": "high_traffic"}
    )
    ids = [e.pop("id") for e in got_alerts]
    assert ids == [f"alert:high_traffic:-:{e['state']}:{e['ts']}" for e in want_alerts]
    assert got_alerts == want_alerts
    assert [e["state"] for e in got_alerts] == ["firing", "resolved"]
    assert served.events("/api/v1/alerts", **{"from": BASE_TS, "to": M, "rule": "other"}) == []


def test_pages_follow_the_cursor(served: Serve) -> None:
    whole = served.events("/api/v1/reports", **{"from": BASE_TS, "to": M})
    pages = []
    params: dict[str, Any] = {"from": BASE_TS, "to": M, "limit": 7}
    while True:
        r = served.get("/api/v1/reports", params=params)
        pages.append(r.json())
        assert len(pages[-1]) <= 7
        if "x-next-cursor" not in r.headers:
            break
        assert 'rel="next"' in r.headers["link"]
        params["cursor"] = r.headers["x-next-cursor"]
    assert [e for page in pages for e in page] == whole
    assert len({e["id"] for e in whole}) == len(whole) == SECONDS // 10


def test_iso_times_and_overlap(served: Serve) -> None:
    # 2023-11-14T22:13:25Z is inside the interval that starts at BASE_TS (22:13:20).
    got = served.get(
        "/api/v1/reports",
        params={"from": "2023-11-14T22:13:25Z", "to": "2023-11-14T22:13:40+00:00"},
    ).json()
    assert [e["start_ts"] for e in got] == [BASE_TS, BASE_TS + 10]


def test_status(served: Serve, log: Path) -> None:
    s = served.status()
    assert s["caught_up"] is True
    assert s["sources"] == [
        {"name": str(log), "role": "active", "offset": log.stat().st_size,
         "size": log.stat().st_size, "caught_up": True}
    ]  # fmt: skip
    assert s["log_time"] >= M and s["lag_seconds"] > 0
    assert s["firing"] == [] and s["rules"] == ["high_traffic"]
    assert served.get("/healthz").json() == {"status": "ok"}


BAD = [
    ("/nope", 404),
    ("/api/v1/reports?from=abc", 400),
    ("/api/v1/reports?from=1e9", 400),
    ("/api/v1/reports?from=-5", 400),
    ("/api/v1/reports?to=99999999999999999999", 400),
    ("/api/v1/reports?from=10&to=5", 400),
    ("/api/v1/reports?from=0&to=253402300800", 400),  # a huge range
    ("/api/v1/reports?limit=0", 400),
    ("/api/v1/reports?limit=1000000", 400),
    ("/api/v1/reports?cursor=x", 400),
    ("/api/v1/reports?from=1&from=2", 400),
    ("/api/v1/reports?zzz=1", 400),
    ("/api/v1/reports?from=" + "9" * 200, 400),
    ("/api/v1/reports?from=2023-13-45T99:00:00Z", 400),
    ("/api/v1/alerts?rule=Bad-Rule", 400),
    ("/api/v1/events?last_event_id=nope", 400),
    ("/api/v1/status?x=1", 400),
    ("/api/v1/reports/../../etc/passwd", 404),
    ("/%00%ff", 404),
]


@pytest.mark.parametrize(("path", "code"), BAD)
def test_garbage_gets_a_clean_4xx(served: Serve, path: str, code: int) -> None:
    r = served.get(path)
    assert r.status_code == code, r.text
    assert "error" in r.json()
    assert "Traceback" not in r.text


def raw(url: str, data: bytes, *, read: bool = True) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        if not read:
            return b""
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_garbage_bytes_and_slow_clients_leave_it_running(served: Serve) -> None:
    assert raw(served.url, b"\x16\x03\x01\x02\x00garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(served.url, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 4")
    host, port = served.url.removeprefix("http://").rsplit(":", 1)
    slow = [socket.create_connection((host, int(port)), timeout=10) for _ in range(20)]
    try:
        for sock in slow:
            sock.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")  # never finished
        t0 = time.monotonic()
        assert served.get("/healthz").status_code == 200
        assert served.get("/metrics").status_code == 200
        assert time.monotonic() - t0 < 2
    finally:
        for sock in slow:
            sock.close()
    assert served.status()["caught_up"]


def sse(
    client: httpx.Client, n: int, headers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """The first `n` events of the stream."""
    out: list[dict[str, str]] = []
    event: dict[str, str] = {}
    with client.stream("GET", "/api/v1/events", headers=headers or {}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if "id" in event:
                    out.append(event)
                    if len(out) == n:
                        return out
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = value
    return out


def test_event_stream_resumes_from_last_event_id(served: Serve) -> None:
    stored = served.events("/api/v1/reports", **{"from": BASE_TS, "to": M + 1000})
    stored += served.events("/api/v1/alerts", **{"from": BASE_TS, "to": M + 1000})
    first = stored[0]["id"]
    got = sse(served.client, 30, {"Last-Event-ID": first})
    ids = [e["id"] for e in got]
    assert len(set(ids)) == 30 and first not in ids
    by_id = {e["id"]: e for e in stored}
    for e in got:
        assert json.loads(e["data"]) == by_id[e["id"]]
        assert e["event"] == by_id[e["id"]]["type"]


# ------------------------------------------------------------- own servers


def test_live_stream_cap_and_pages_of_ten_thousand(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    n = 25_000
    log.write_text("".join(csv_line(BASE_TS + s, s) for s in range(n)))
    s = Serve(["--interval", "1", "--lateness", "1", "--max-sse-clients", "1", str(log)])
    try:
        s.wait_final(BASE_TS + n - 3)
        r = s.get("/api/v1/reports", params={"from": BASE_TS, "to": BASE_TS + n})
        assert len(r.json()) == 10_000 and r.headers["x-next-cursor"]
        assert len(s.events("/api/v1/reports", **{"from": BASE_TS, "to": BASE_TS + n})) >= n - 2
        # One stream client at most: the second is told to come back later.
        with s.client.stream("GET", "/api/v1/events") as first:
            assert first.status_code == 200
            lines = first.iter_lines()
            assert next(lines) == "retry: 2000"
            second = wait_for(lambda: s.get("/api/v1/events").status_code == 503 or None, 10)
            assert second
            with log.open("a") as fh:  # new traffic: new events reach the stream
                fh.write("".join(csv_line(BASE_TS + n + k, k) for k in range(5)))
            got: list[int] = []
            for line in lines:
                if line.startswith("id: stats:"):
                    got.append(int(line.removeprefix("id: stats:")))
                    if got[-1] == BASE_TS + n:
                        break
            # From the first report not published when the stream began (the
            # idle clock may have made the log's last seconds final meanwhile:
            # lateness 1 s), each once, in order, to the new traffic's first.
            assert BASE_TS + n - 2 <= got[0] and got == list(range(got[0], BASE_TS + n + 1))
    finally:
        assert s.stop() == 0


def test_token_and_sighup(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(traffic(30))
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    s = Serve(["--token-file", str(token), str(log)], token="s3cret")
    try:
        anon = httpx.Client(base_url=s.url)
        for path in ("/metrics", "/api/v1/status", "/api/v1/reports", "/api/v1/events"):
            r = anon.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert (
            anon.get("/api/v1/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        assert anon.get("/healthz").status_code == 200
        assert s.get("/api/v1/status").status_code == 200
        token.write_text("")  # a bad token file: reported, the old token kept
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any("keeping the configuration" in x for x in s.lines), 10, "the note")
        assert s.get("/api/v1/status").status_code == 200
        token.write_text("n3w")
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any("configuration reloaded" in x for x in s.lines), 10, "the reload")
        assert s.get("/api/v1/status").status_code == 401
        s.client.headers["Authorization"] = "Bearer n3w"
        assert s.get("/api/v1/status").status_code == 200
        anon.close()
    finally:
        assert s.stop() == 0


def test_config_rules_and_their_reload(tmp_path: Path) -> None:
    """--config gives serve its rules; SIGHUP reads them again, keeping the old on a bad file."""
    log = tmp_path / "access.log"
    log.write_text(traffic(30))
    config = tmp_path / "rules.toml"
    config.write_text('[[rules]]\nname = "busy"\nkind = "rate_above"\nthreshold = 0\nwindow = 5\n')
    s = Serve(["--config", str(config), str(log)])
    try:
        since = f"/api/v1/alerts?from={BASE_TS - 3600}"
        wait_for(lambda: s.get(since).json() or None, 30, "an alert")
        alerts = s.get(since).json()
        assert {a["rule"] for a in alerts} == {"busy"}
        assert alerts[0]["kind"] == "rate_above" and "top" in alerts[0]
        config.write_text("[[rules]\n")  # not TOML: reported, the rules in force kept
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any("keeping the configuration" in x for x in s.lines), 10, "the note")
        assert any("invalid TOML" in x for x in s.lines)
        config.write_text('[[rules]]\nname = "calm"\nkind = "rate_below"\nthreshold = 1000\n')
        s.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any("configuration reloaded" in x for x in s.lines), 10, "the reload")
    finally:
        assert s.stop() == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nname = "x"\nkind = "spike"\nthreshold = 1\n')
    done = subprocess.run(
        [sys.executable, "-m", "hitwatch", "serve", "--config", str(bad), str(log)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown kind 'spike'" in done.stderr and "Traceback" not in done.stderr
