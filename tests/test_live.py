"""Live mode: the idle clock with a fake clock, --speed with a fake sleep, signals, injection."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from conftest import APACHE_LOGS, SAMPLE_CSV, needs_data
from hitwatch.engine.clock import IdleClock
from hitwatch.engine.core import Engine
from hitwatch.live import FollowLoop, run_paced
from hitwatch.outputs.jsonl import JsonlSink
from hitwatch.outputs.text import TextSink
from hitwatch.pipeline import run
from hitwatch.rules.rate_above import RateAbove
from hitwatch.sources import open_source
from hitwatch.sources.follow import Follower


class FakeClock:
    def __init__(self, t: float = 5000.0) -> None:
        self.t = t
        self.slept = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        assert dt >= 0
        self.t += dt
        self.slept += dt


def csv_line(ts: int, path: str = "/api/user", host: str = "10.0.0.1") -> bytes:
    return f'"{host}","-","apache",{ts},"GET {path} HTTP/1.0",200,100\n'.encode()


def engine(lateness: int = 5, threshold: Fraction | int = 1, window: int = 20) -> Engine:
    return Engine(
        interval=10,
        lateness=lateness,
        rules=[RateAbove("high_traffic", window, Fraction(threshold))],
    )


def objects(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# ------------------------------------------------------------------ idle clock


def test_idle_clock_waits_lateness_then_follows_the_wall_clock() -> None:
    e = engine(lateness=5)
    clock = IdleClock(5, now=100.0)
    assert clock.target(1000.0) is None  # nothing read yet
    rows = e.rows
    e.feed([(1000, 1, "/a", "h", "200", "GET")])
    clock.observe(100.0, rows, e)
    assert clock.target(105.0) is None  # not idle for more than L yet
    assert clock.target(105.5) == 1000 + 5 - 5 - 1
    clock.tick(110.0, e)
    assert e.final == 1000 + 10 - 5 - 1
    # A late record is an arrival (the clock waits again) but does not move the anchor.
    rows = e.rows
    e.feed([(1001, 1, "/a", "h", "200", "GET")])
    clock.observe(111.0, rows, e)
    assert e.late == 1
    assert clock.target(116.0) is None
    assert clock.target(116.5) == 1000 + 16 - 5 - 1


def follow_loop(
    path: Path, clock: FakeClock, out: io.StringIO, e: Engine, sink: Any = None
) -> FollowLoop:
    return FollowLoop(
        Follower([str(path)], clock=clock),
        "auto",
        e,
        sink or JsonlSink(out, quiet=False),
        lambda _t: None,
        lambda *_a: None,
        now=clock,
        sleep=clock.sleep,
    )


def test_idle_clock_gives_empty_reports_and_the_recovery(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    clock = FakeClock()
    out = io.StringIO()
    loop = follow_loop(log, clock, out, engine(threshold=1, window=20))
    log.write_bytes(b"")
    loop.step()
    t0 = 1_700_000_000
    # 3 hits a second for 30 s of log time, written as the wall clock goes.
    for s in range(30):
        with open(log, "ab") as fh:
            fh.write(b"".join(csv_line(t0 + s) for _ in range(3)))
        loop.step()
        clock.t += 1
    got = objects(out.getvalue())
    assert [o["state"] for o in got if o["type"] == "alert"] == ["firing"]
    # Traffic stops; the idle clock carries log time on with the wall clock.
    for _ in range(60):
        clock.t += 1
        loop.step()
    got = objects(out.getvalue())
    alerts = [o for o in got if o["type"] == "alert"]
    assert [a["state"] for a in alerts] == ["firing", "resolved"]
    # 20 s window, 1 req/s: resolves when <= 20 hits remain in the window.
    assert alerts[1]["ts"] == t0 + 29 + 14
    stats = [o for o in got if o["type"] == "stats"]
    assert [s["hits"] for s in stats[-4:]] == [0, 0, 0, 0]
    assert stats[-1]["end_ts"] <= t0 + 29 + 60
    assert stats[-1]["end_ts"] > t0 + 29 + 60 - 5 - 10 - 1
    loop.stop.request(0)
    loop.run()
    summary = objects(out.getvalue())[-1]
    assert summary["records"] == 90


def test_text_output_says_no_traffic_promptly_when_live(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(csv_line(1_700_000_000 + i // 2) for i in range(40)))
    clock = FakeClock()
    out = io.StringIO()
    loop = follow_loop(log, clock, out, engine(), sink=TextSink(out, flush=True))
    loop.step()
    for _ in range(40):
        clock.t += 1
        loop.step()
    text = out.getvalue()
    assert "20 hits" in text
    assert "no traffic from" in text  # without traffic resuming


# ------------------------------------------------------------------ --speed


@needs_data
@pytest.mark.parametrize("path", [SAMPLE_CSV, APACHE_LOGS], ids=["csv", "combined"])
def test_speed_gives_the_same_jsonl_as_no_pacing(path: Path) -> None:
    def plain() -> str:
        out = io.StringIO()
        e = engine(lateness=5, threshold=1, window=120)
        run([open_source(str(path))], "auto", e, JsonlSink(out), lambda _t: None, lambda *_a: None)
        return out.getvalue()

    clock = FakeClock()
    out = io.StringIO()
    e = engine(lateness=5, threshold=1, window=120)
    speed = 50.0
    run_paced(
        [open_source(str(path))],
        "auto",
        e,
        JsonlSink(out),
        lambda _t: None,
        lambda *_a: None,
        speed=speed,
        now=clock,
        sleep=clock.sleep,
    )
    assert out.getvalue() == plain()
    summary = objects(out.getvalue())[-1]
    span = (summary["last_ts"] - summary["first_ts"]) / speed
    assert span * 0.9 <= clock.slept <= span * 1.01


# ------------------------------------------------------------------ the command


def hitwatch(*args: str, **kw: Any) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # must flush itself
    return subprocess.Popen(
        [sys.executable, "-m", "hitwatch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        **kw,
    )


def wait_for(
    proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 10.0, *, stderr: bool = False
) -> bytes:
    """Read stdout (or stderr) until `needle` shows up (or fail after `timeout` seconds)."""
    import selectors

    stream = proc.stderr if stderr else proc.stdout
    assert stream is not None
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {needle!r}; got {seen!r}"
        if sel.select(left):
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"hitwatch ended early; got {seen!r}"
            seen += chunk
    return seen


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_signals_flush_and_print_the_summary(tmp_path: Path, sig: int, code: int) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(csv_line(1_700_000_000 + i // 5) for i in range(100)))
    proc = hitwatch("-f", str(log), "--output", "jsonl")
    seen = wait_for(proc, b'"type":"stats"')
    proc.send_signal(sig)
    rest, err = proc.communicate(timeout=10)
    assert proc.returncode == code, err
    got = objects((seen + rest).decode())
    assert got[-1]["type"] == "summary"
    assert got[-1]["records"] == 100
    assert b"Traceback" not in err


def test_usage_errors(tmp_path: Path) -> None:
    for args in (["-f", str(tmp_path / "missing.log")], ["--since", "10m", "x"], ["-f", "-"]):
        proc = hitwatch(*args, stdin=subprocess.DEVNULL)
        _out, err = proc.communicate(timeout=10)
        assert proc.returncode == 2, args
        assert err.count(b"\n") == 1 and b"error" in err


def test_since_now_starts_at_the_end(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(csv_line(1_700_000_000 + i) for i in range(50)))
    proc = hitwatch("-f", "--since", "now", str(log), "--output", "jsonl", "--lateness", "0", "-v")
    # Lines written before it has taken the end would be skipped: wait until it says so.
    size = log.stat().st_size
    said = wait_for(proc, b"\n", stderr=True)
    assert said == f"hitwatch: {log}: following from byte {size:,} of {size:,}\n".encode()
    with open(log, "ab") as fh:
        fh.write(b"".join(csv_line(1_700_000_100 + i) for i in range(5)))
    seen = wait_for(proc, b'"type":"stats"')
    proc.send_signal(signal.SIGTERM)
    rest, _err = proc.communicate(timeout=10)
    summary = objects((seen + rest).decode())[-1]
    assert summary["records"] == 5


def test_since_a_duration_starts_that_much_log_time_before_the_end(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    t0 = 1_700_000_000
    log.write_bytes(b"".join(csv_line(t0 + i // 10) for i in range(20_000)))  # 2000 s
    proc = hitwatch("-f", "--since", "100s", str(log), "--output", "jsonl", "--lateness", "0")
    seen = wait_for(proc, b'"type":"stats"')
    proc.send_signal(signal.SIGTERM)
    rest, _err = proc.communicate(timeout=10)
    got = objects((seen + rest).decode())
    assert got[0]["start_ts"] == t0 + 1999 - 100
    assert got[-1]["records"] == 101 * 10


# ------------------------------------------------------------------ hostile content

HOSTILE_HOSTS = ["\x1b[31mred\x1b[0m", "[red]boom[/red]", "bell\x07C1\x9b2J"]
HOSTILE_PATHS = ["/\x1b]0;title\x07x", "/[link=http://evil]click[/link]", "/\x1b[2J"]


def hostile_log(path: Path) -> None:
    lines = []
    for i in range(60):
        host = HOSTILE_HOSTS[i % 3]
        target = HOSTILE_PATHS[i % 3]
        lines.append(
            f'{host} - - [14/Nov/2023:22:13:{20 + i // 3:02d} +0000] "GET {target} HTTP/1.1" '
            f'200 10 "-" "agent\x1b[5m"\n'
        )
    path.write_bytes("".join(lines).encode())


def test_text_output_never_passes_escapes_through(tmp_path: Path) -> None:
    log = tmp_path / "evil.log"
    hostile_log(log)
    proc = hitwatch(str(log), "--speed", "1000", "--no-dashboard")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert b"\x1b" not in out and b"\x07" not in out and b"\r" not in out
    assert b"\\x1b[31mred" in out
    assert b"[red]boom[/red]" in out and b"/[link=http:" in out
    assert b"0 invalid" in out
    assert b"\x1b" not in err
