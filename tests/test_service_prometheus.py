"""`hitwatch serve` with the real servers it feeds: Prometheus scrapes it,
Alertmanager takes its alerts and routes them to a webhook receiver.

They need Debian's `prometheus` and `prometheus-alertmanager` packages
(`.ci/run` installs them); without the binaries these tests skip, saying so.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from test_service_notify import Receiver
from test_service_support import BASE_TS, Serve, main_jsonl, traffic, wait_for

PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Daemon:
    """A server binary run for one test, its output kept for failures."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self.out = log.open("w")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.proc.args} exited: {self.log.read_text()[-2000:]}")
        return True

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.out.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.mark.skipif(
    PROMETHEUS is None, reason="needs Debian's prometheus (apt-get install prometheus)"
)
def test_prometheus_scrapes_the_requests_total(tmp_path: Path) -> None:
    assert PROMETHEUS is not None
    log = tmp_path / "access.log"
    log.write_text(traffic(300, base=3, spike=(100, 150), spike_rate=20))
    records = main_jsonl(log, "--lateness", "1")[-1]["records"]
    s = Serve(["--lateness", "1", str(log)])
    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = s.url.removeprefix("http://")
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: hitwatch\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    prom = Daemon(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        tmp_path / "prometheus.out",
    )  # fmt: skip
    try:
        s.wait_final(BASE_TS + 299)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)

        def total() -> float | None:
            prom.alive()
            r = api.get("/api/v1/query", params={"query": "sum(hitwatch_requests_total)"})
            result = r.json()["data"]["result"] if r.status_code == 200 else []
            value = float(result[0]["value"][1]) if result else None
            return value if value == records else None

        assert wait_for(total, 60, "Prometheus to have scraped the run") == records
        up = api.get("/api/v1/query", params={"query": 'up{job="hitwatch"}'}).json()
        assert up["data"]["result"][0]["value"][1] == "1"
        api.close()
    finally:
        prom.stop()
        assert s.stop() == 0


@pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="needs Debian's prometheus-alertmanager (apt-get install prometheus-alertmanager)",
)
def test_alertmanager_routes_alerts_to_a_webhook(tmp_path: Path, receiver: Receiver) -> None:
    assert ALERTMANAGER is not None
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: test\n  group_by: [alertname]\n  group_wait: 100ms\n"
        "  group_interval: 500ms\n  repeat_interval: 1h\n"
        f"receivers:\n  - name: test\n    webhook_configs:\n      - url: '{receiver.url}'\n"
        "        send_resolved: true\n"
    )
    am = Daemon(
        [ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        tmp_path / "alertmanager.out",
    )  # fmt: skip
    am_url = f"http://127.0.0.1:{port}"
    wait_for(lambda: am.alive() and httpx.get(f"{am_url}/-/ready").status_code == 200, 30, "AM")
    log = tmp_path / "access.log"
    # A spike that is still going on: the alert fires and stays firing.
    log.write_text(traffic(40, base=1, spike=(10, 40), spike_rate=12))
    s = Serve(["--lateness", "1", "--window", "10", "--threshold", "5",
               "--alertmanager", am_url, "--resend", "1", str(log)])  # fmt: skip
    try:

        def notified(status: str) -> list[dict[str, object]] | None:
            am.alive()
            return [
                a
                for p in receiver.accepted()
                if isinstance(p, dict)
                for a in p["alerts"]
                if a["status"] == status
            ] or None

        firing = wait_for(lambda: notified("firing"), 60, "Alertmanager's firing notification")
        assert firing[0]["labels"] == {"alertname": "high_traffic", "severity": "warning"}
        assert str(firing[0]["startsAt"]).startswith("2023-11-14T22:13:")
        assert "High traffic generated an alert" in str(firing[0]["annotations"])
        # Alertmanager has it as an active alert, renewed every --resend.
        alerts = httpx.get(f"{am_url}/api/v2/alerts").json()
        assert [a["labels"]["alertname"] for a in alerts] == ["high_traffic"]
        # The traffic calms down: the alert resolves, with endsAt, and the receiver hears it.
        with log.open("a") as fh:
            fh.write(traffic(60, start=BASE_TS + 40, base=1))
        resolved = wait_for(lambda: notified("resolved"), 60, "the resolved notification")
        assert str(resolved[0]["endsAt"]).startswith("2023-11-14T22:1")
    finally:
        assert s.stop() == 0
        am.stop()
