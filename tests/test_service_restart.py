"""Restart without loss (SPEC §11): `kill -9` at random moments while a writer
appends and rotates; after the last restart the store holds exactly the events
of an uninterrupted run, id by id and content by content.

`chaos()` is shared with `bench/serve.py`, which runs the full version
(20 kills at 10,000 lines a second with two rotations); the test here is the
CI-sized one.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from test_service_support import BASE_TS, Serve, csv_line, main_jsonl, wait_for

OPTS = ["--lateness", "2", "--window", "30", "--threshold", "150", "--interval", "10"]


def schedule(total: int) -> list[str]:
    """`total` lines: 60 a second of log time, 300 in every third 100 s (alerts
    fire and resolve), a line 20 s late every 997 and an invalid one every 1499."""
    lines: list[str] = []
    s = 0
    while len(lines) < total:
        rate = 300 if (s // 100) % 3 == 1 else 60
        for _ in range(rate):
            n = len(lines)
            if n % 1499 == 1498:
                lines.append("not a log line\n")
            elif n % 997 == 996:
                lines.append(csv_line(BASE_TS + s - 20, n))
            else:
                lines.append(csv_line(BASE_TS + s, n, 500 if n % 13 == 0 else 200))
        s += 1
    return lines[:total]


@dataclass(eq=False)
class Writer(threading.Thread):
    """Appends `lines` to `log` at `rate` lines a second, rotating (rename and
    create, as logrotate does) at each of the `rotations` fractions."""

    log: Path
    lines: list[str]
    rate: int
    rotations: tuple[float, ...] = (1 / 3, 2 / 3)
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)

    def run(self) -> None:
        batch = max(1, self.rate // 50)
        cuts = [int(f * len(self.lines)) for f in self.rotations]
        t0 = time.monotonic()
        fh = self.log.open("a")
        try:
            for i in range(0, len(self.lines), batch):
                if cuts and i >= cuts[0]:
                    cuts.pop(0)
                    fh.close()
                    self._rotate()
                    fh = self.log.open("a")
                fh.write("".join(self.lines[i : i + batch]))
                fh.flush()
                due = t0 + (i + batch) / self.rate
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)  # pacing the writer, not waiting for a result
        finally:
            fh.close()
            self.done.set()

    def _rotate(self) -> None:
        for k in range(len(self.rotations), 0, -1):
            old = self.log.with_name(f"{self.log.name}.{k}")
            if old.exists():
                os.rename(old, self.log.with_name(f"{self.log.name}.{k + 1}"))
        os.rename(self.log, self.log.with_name(f"{self.log.name}.1"))


@dataclass
class ChaosResult:
    kills: int
    lines: int
    seconds: float
    events: int


def chaos(tmp: Path, *, kills: int, rate: int, seconds: float, seed: int = 18) -> ChaosResult:
    """Write `rate * seconds` lines with two rotations while killing the service
    `kills` times at random; then compare its store with an uninterrupted run."""
    rng = random.Random(seed)
    log = tmp / "access.log"
    log.touch()
    state = tmp / "state"
    lines = schedule(int(rate * seconds))
    writer = Writer(log, lines, rate)
    t0 = time.monotonic()
    writer.start()
    serve = Serve(["--state", str(state), *OPTS, str(log)])
    done = 0
    while done < kills:
        # A random moment: soon after the start (while restoring) or well into the run.
        deadline = time.monotonic() + rng.choice([0.0, rng.uniform(0.05, 2 * seconds / kills)])
        while time.monotonic() < deadline and not writer.done.is_set():
            time.sleep(0.005)
        serve.kill()
        done += 1
        serve = Serve(["--state", str(state), *OPTS, str(log)])
    writer.join()
    elapsed = time.monotonic() - t0
    try:
        everything = (
            b"".join(
                p.read_bytes()
                for p in (log.with_name(f"{log.name}.{k}") for k in (3, 2, 1))
                if p.exists()
            )
            + log.read_bytes()
        )
        assert everything == "".join(lines).encode(), "the writer lost lines (not the service)"
        whole = tmp / "whole.log"
        whole.write_bytes(everything)
        ref = main_jsonl(whole, *OPTS)
        summary = ref[-1]
        m = summary["last_ts"]
        # The interval that holds M is reported once its last second is final.
        serve.wait_final((m // 10) * 10 + 9, timeout=120)
        compare(serve, ref, m, min_alerts=3)
        metrics = serve.metrics()
        requests = sum(v for k, v in metrics.items() if k.startswith("hitwatch_requests_total{"))
        assert requests == summary["records"]
        for outcome in ("record", "late", "invalid"):
            key = "records" if outcome == "record" else outcome
            assert metrics[f'hitwatch_lines_total{{outcome="{outcome}"}}'] == summary[key]
        events = len(serve.events("/api/v1/reports", **{"from": BASE_TS - 100, "to": m + 1000}))
    finally:
        assert serve.stop() == 0
    return ChaosResult(kills, len(lines), elapsed, events)


def compare(serve: Serve, ref: list[dict[str, Any]], m: int, min_alerts: int = 1) -> None:
    last_whole = (m // 10) * 10
    want = [e for e in ref if e["type"] == "stats" and e["end_ts"] <= last_whole]
    got = serve.events("/api/v1/reports", **{"from": BASE_TS - 100, "to": last_whole})
    got = [e for e in got if e["end_ts"] <= last_whole]
    assert [e.pop("id") for e in got] == [f"stats:{e['start_ts']}" for e in want]
    assert got == want
    want_alerts = [e for e in ref if e["type"] == "alert"]
    assert len(want_alerts) >= min_alerts
    got_alerts = serve.events("/api/v1/alerts", **{"from": BASE_TS - 100, "to": m + 1})
    assert [e.pop("id") for e in got_alerts] == [
        f"alert:high_traffic:-:{e['state']}:{e['ts']}" for e in want_alerts
    ]
    assert got_alerts == want_alerts


def test_kill_9_at_random_moments_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    result = chaos(tmp_path, kills=6, rate=10_000, seconds=6.0)
    assert result.kills == 6 and result.events > 0


def test_sigterm_commits_and_stops_quickly_and_a_restart_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = schedule(20_000)
    log.write_text("".join(lines[:10_000]))
    state = tmp_path / "state"
    s = Serve(["--state", str(state), *OPTS, str(log)])
    s.wait_final(BASE_TS + 10)
    wait_for(lambda: s.status()["caught_up"], 30, "caught up")
    t0 = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - t0 < 5
    with log.open("a") as fh:
        fh.write("".join(lines[10_000:]))
    s = Serve(["--state", str(state), *OPTS, str(log)])
    try:
        assert s.status()["resumed"] is True
        ref = main_jsonl(log, *OPTS)
        s.wait_final(ref[-1]["last_ts"])
        compare(s, ref, ref[-1]["last_ts"])
    finally:
        assert s.stop() == 0
