"""Benchmark of `hitwatch serve` under load; prints one table.

    python bench/serve.py                  # everything (about 8 minutes)
    python bench/serve.py --lines 1000000 --live-seconds 10 --kills 0 --repeat 1 --down-seconds 0

1. catch-up, alone: `serve` reads a file of --lines CSV lines spanning one day
   of log time from its start; throughput = lines / time until /api/v1/status
   says caught_up.
2. catch-up under load: the same file, a fresh state, while 20 scrapers GET
   /metrics (each every 0.5 s), a client asks for the one-day
   /api/v1/reports range (every second) and 100 SSE clients are connected:
   the throughput drop against (1). (1) and (2) run --repeat times in turns,
   the best of each counts (5: a catch-up takes 2 s, which a neighbour on
   this shared machine stretches by up to a third). The load's clients are
   lean (plain HTTP/1.0 on asyncio, each kind in a process of its own): they
   share the 2 cores.
3. live: on that state, a writer appends --rate lines a second (200,000)
   stamped with the current second for --live-seconds, under the same load.
   /metrics and one-day query latencies (p50, p99); SSE delivery: an interval's
   report can be emitted once a line of its end + lateness (5 s) is written,
   i.e. at wall time end_ts + 5: the delay is its arrival at a client after
   that, over every client and report (p50, p99).
4. RSS: the serve process's peak (VmHWM) over all of it.
5. restart: `kill -9` --kills times at random while a writer appends 10,000
   lines a second with two rotations; the store must equal an uninterrupted
   run id by id (tests/test_service_restart.py's check, full size).
6. a webhook receiver down: it answers 503 for --down-seconds (60), then 200,
   while 10,000 lines a second are written with an alert episode every 20 s:
   ingestion's lag meanwhile, and every alert stored reaches the receiver,
   each (fingerprint, status, start) once.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_service_support import Receiver, Serve, wait_for  # noqa: E402

DAY0 = 1_700_006_400  # 2023-11-15T00:00:00Z


def write_day(path: Path, lines: int) -> None:
    """`lines` CSV lines spread evenly over one day of log time."""
    step = 86400 / lines
    with path.open("w") as fh:
        buf = []
        for i in range(lines):
            ts = DAY0 + int(i * step)
            buf.append(
                f'"10.{i % 7}.{i % 50}.{i % 200}","-","u",{ts},'
                f'"GET /{("api", "static", "login", "admin", "img")[i % 5]}/{i % 97} HTTP/1.1",'
                f"{(200, 200, 200, 404, 500)[i % 5]},{100 + i % 900}\n"
            )
            if len(buf) == 10_000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# ------------------------------------------------------------------ load


READ_LIMIT = 4 << 20
"""A client's read buffer: asyncio's default (64 KiB) stops reading at 128 KiB
until the coroutine takes it, a wake-up of the client every 128 KiB of a 5 MB
answer, on cores the service shares with it."""


async def _get(url: str, target: str) -> bytes:
    """GET target on a connection of its own, as HTTP/1.0 (the body ends with
    the connection): the whole answer, read with no HTTP client library.

    The load runs on the 2 cores of the machine under test, so its clients
    are lean: 20 httpx scrapers in one process took 2-3 ms each to take an
    answer the service gave in 0.7 ms, and a burst of them measured that
    (p99 55 ms against an idle service); parsing a 5 MB answer added 20-30
    ms to each one-day query."""
    host, _, port = url.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port), limit=READ_LIMIT)
    try:
        writer.write(b"GET %s HTTP/1.0\r\n\r\n" % target.encode())
        answer = await reader.read(-1)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:40]
    return answer


async def _scraper(url: str, stop: float, out: list[float]) -> None:
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        answer = await _get(url, "/metrics")
        out.append(time.perf_counter() - t0)
        assert b"hitwatch_requests_total" in answer or b"hitwatch_lines_total" in answer
        await asyncio.sleep(0.5)


async def _querier(url: str, stop: float, out: list[float], sizes: list[int]) -> None:
    target = f"/api/v1/reports?from={DAY0}&to={DAY0 + 86400}"
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        answer = await _get(url, target)
        out.append(time.perf_counter() - t0)
        sizes.append(answer.count(b'{"id":"stats:'))  # the reports it held
        await asyncio.sleep(1.0)


_REPORT_ID = re.compile(rb"id: stats:([0-9]+)\n")
"""A report's id line (a literal prefix: ten times faster to find than one
anchored at a line start; this benchmark's reports hold no such text)."""


class _EventStream(asyncio.Protocol):
    """One event stream client: notes when each report arrived.

    A lean one, as `wrk` is to `curl`: a plain HTTP/1.0 request (so the body
    comes as it is, not chunked) on an asyncio protocol that copies nothing
    but the line cut at each read's end, and one regular expression over what
    arrives. 100 of them share the 2 cores of the machine under test: they
    must not measure themselves (with httpx they took 1.7 s of CPU while the
    service caught up in 2.3 s)."""

    def __init__(self, out: list[tuple[int, float]]) -> None:
        self.out = out
        self.carry = b""  # an unfinished line, or the response head so far
        self.body = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"GET /api/v1/events HTTP/1.0\r\n\r\n")

    def data_received(self, data: bytes) -> None:
        now = time.time()
        at = 0
        if not self.body:
            data = self.carry + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.carry = data
                return
            assert data.startswith(b"HTTP/1.1 200 "), data[:40]
            self.body, self.carry, at = True, b"", end + 4
        elif self.carry:  # the line cut at the end of the last read
            nl = data.find(b"\n") + 1
            if not nl:
                self.carry += data
                return
            line = self.carry + data[:nl]
            self._found(line, 0, len(line), now)
            self.carry, at = b"", nl
        cut = data.rfind(b"\n") + 1
        if cut > at:
            self._found(data, at, cut, now)
        self.carry = data[max(cut, at) :]

    def _found(self, data: bytes, start: int, end: int, now: float) -> None:
        ids = _REPORT_ID.findall(data, start, end)
        self.out.extend(zip(map(int, ids), repeat(now)))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _sse(url: str, stop: float, out: list[tuple[int, float]]) -> None:
    host, _, port = url.removeprefix("http://").partition(":")
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_connection(lambda: _EventStream(out), host, int(port))
    try:
        await asyncio.wait_for(client.closed, max(0.0, stop - time.monotonic()))
    except TimeoutError:
        pass
    finally:
        transport.close()


def load(url: str, seconds: float, kind: str, conn: Any) -> None:
    """One load process: `scrape` (20 scrapers), `query` (the one-day querier)
    or `sse` (100 clients). Each in a process of its own, as they would be:
    else a client reading a 6 MB answer holds the others' answers up, and
    their latencies measure the client."""

    async def main() -> dict[str, Any]:
        stop = time.monotonic() + seconds
        if kind == "scrape":
            scrapes: list[float] = []
            await asyncio.gather(*(_scraper(url, stop, scrapes) for _ in range(20)))
            return {"scrapes": scrapes}
        if kind == "query":
            queries: list[float] = []
            sizes: list[int] = []
            await _querier(url, stop, queries, sizes)
            return {"queries": queries, "sizes": sizes}
        got: list[tuple[int, float]] = []
        tasks = [asyncio.create_task(_sse(url, stop, got)) for _ in range(100)]
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"sse": got}

    conn.send(asyncio.run(main()))


def start_load(url: str, seconds: float) -> list[tuple[Any, Any]]:
    procs = []
    for kind in ("scrape", "query", "sse"):
        parent, child = mp.Pipe()
        p = mp.Process(target=load, args=(url, seconds, kind, child), daemon=True)
        p.start()
        procs.append((p, parent))
    return procs


def collect(procs: list[tuple[Any, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p, conn in procs:
        out.update(conn.recv())
        p.join(30)
    return out


# ------------------------------------------------------------------ phases


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def catch_up(
    day: Path, tmp: Path, name: str, lines: int, loaded: bool
) -> tuple[float, Serve, dict[str, Any]]:
    """Serve an empty file, start the load (if any), then put the day's file in
    its place (as a rotation would): the time until caught up, under that load."""
    log = tmp / f"{name}.log"
    log.touch()
    # The live phase writes lines of today, years after the day's: the default
    # retention (30 days of log time) would then prune the day that the
    # one-day query asks for, and the query would time an empty answer.
    s = Serve(["--state", str(tmp / f"{name}-state"), "--retention", "36500d", str(log)])
    procs = start_load(s.url, 15.0) if loaded else []
    if loaded:
        wait_for(lambda: s.status()["sse_clients"] == 100 or None, 60, "the load to start")
    copy = tmp / f"{name}.new"
    os.link(day, copy)
    pids = [s.proc.pid] + [p.pid for p, _ in procs]
    cpu0 = [cpu_seconds(pid) for pid in pids]
    t0 = time.monotonic()
    os.rename(copy, log)
    wait_for(
        lambda: (s.status()["caught_up"] and s.status()["lines"]["record"] >= lines) or None,
        900,
        "catch-up",
    )
    elapsed = time.monotonic() - t0
    cpu = [cpu_seconds(pid) - c for pid, c in zip(pids, cpu0, strict=True)]
    stats = collect(procs) if procs else {}
    stats["cpu"] = (elapsed, cpu[0], sum(cpu[1:]))  # wall, serve's CPU, the clients'
    return lines / elapsed, s, stats


class Writer:
    """Appends `bulk` (CSV lines whose time is TSTSTSTSTS) every 10 ms,
    stamped with the current second, and `first` too at the first write of
    a second when it says so; in a thread, while in its `with` block."""

    def __init__(self, log: Path, bulk: bytes, first: Callable[[int], bytes] | None = None):
        self.log, self.bulk, self.first = log, bulk, first
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        t0 = time.monotonic()
        k = 0
        last = 0
        with self.log.open("ab") as fh:
            while not self.stop.is_set():
                now = int(time.time())
                chunk = self.bulk
                if self.first is not None and now != last:
                    chunk += self.first(now)
                last = now
                fh.write(chunk.replace(b"TSTSTSTSTS", b"%d" % now))
                fh.flush()
                k += 1
                wait = t0 + k * 0.01 - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # pacing the writer


def live(s: Serve, log: Path, rate: int, seconds: float) -> dict[str, Any]:
    bulk = b"".join(
        b'"10.1.%d.%d","-","u",TSTSTSTSTS,"GET /%s/x HTTP/1.1",200,512\n'
        % (i % 50, i % 200, (b"api", b"static", b"img")[i % 3])
        for i in range(rate // 100)
    )
    procs = start_load(s.url, seconds)
    started = time.time()
    with Writer(log, bulk):
        got = collect(procs)
    # The reports of the writer's lines: intervals that end after it started
    # (not empty ones that the idle clock made of the log's time before).
    got["sse_delays"] = [
        recv - (sid + 10 + 5) for sid, recv in got.pop("sse") if sid + 10 > started
    ]
    return got


SPIKES = """[[rules]]
name = "spike"
kind = "rate_above"
window = "10s"
threshold = 5
match = { section = "/spike" }
"""
"""The receiver phase's rule: more than 5 hits a second on /spike over 10 s."""


def receiver_down(tmp: Path, down: float, rate: int) -> dict[str, Any]:
    """A webhook receiver answers 503 for `down` seconds, then 200, while a
    writer appends `rate` lines a second stamped with the current second,
    and 8 s of every 20 hit /spike 20 times a second (an alert fires and
    resolves each time). Ingestion's lag is polled meanwhile; then every
    alert stored must reach the receiver, each (fingerprint, status,
    startsAt) once."""
    receiver = Receiver(503)
    config = tmp / "spikes.toml"
    config.write_text(SPIKES)
    log = tmp / "live.log"
    log.touch()
    bulk = b"".join(
        b'"10.2.%d.%d","-","u",TSTSTSTSTS,"GET /bulk/%d HTTP/1.1",200,512\n'
        % (i % 50, i % 200, i % 97)
        for i in range(rate // 100)
    )
    spike = b"".join(
        b'"10.3.0.%d","-","u",TSTSTSTSTS,"GET /spike/x HTTP/1.1",500,64\n' % i for i in range(20)
    )
    started = int(time.time())
    s = Serve(
        ["--state", str(tmp / "down-state"), "--config", str(config),
         "--notify", receiver.url, "--retry-max", "10", str(log)]
    )  # fmt: skip
    try:
        lags: list[float] = []
        with Writer(log, bulk, lambda now: spike if now % 20 < 8 else b""):
            t_end = time.monotonic() + down
            while time.monotonic() < t_end:
                status = s.status()
                if status["log_time"] is not None:
                    lags.append(float(status["lag_seconds"]))
                time.sleep(0.5)  # polling the status, not timing anything
            failed = receiver.answers()
            receiver.code = 200
        s.wait_final(int(time.time()) + 1, timeout=60)
        stored = s.events("/api/v1/alerts", **{"from": started - 60, "to": int(time.time()) + 60})
        wait_for(lambda: len(receiver.accepted()) >= len(stored) or None, 120, "every alert")
        got = receiver.accepted()
        assert s.stop() == 0
    finally:
        s.kill()  # nothing when it has stopped
        receiver.close()
    keys = {(p["alerts"][0]["fingerprint"], p["status"], p["alerts"][0]["startsAt"]) for p in got}
    return {
        "stored": len(stored),
        "failed": len(failed),
        "delivered": len(got),
        "distinct": len(keys),
        "lag": max(lags, default=float("nan")),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--lines", type=int, default=3_000_000)
    p.add_argument("--rate", type=int, default=200_000)
    p.add_argument("--live-seconds", type=float, default=30.0)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument(
        "--down-seconds",
        type=float,
        default=60.0,
        help="how long the webhook receiver answers 503 (0: skip that phase)",
    )
    p.add_argument(
        "--repeat", type=int, default=5, help="catch-ups alone and under load, the best counts"
    )
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="hitwatch-bench-") as tmp:
        d = Path(tmp)
        log = d / "day.log"
        write_day(log, args.lines)
        # Alone and under load in turns, the best of each: a catch-up takes
        # two seconds, which a neighbour on this shared machine can stretch.
        alone, loaded, rss = 0.0, 0.0, 0
        for i in range(args.repeat):
            got_alone, s, stats = catch_up(log, d, f"alone{i}", args.lines, loaded=False)
            rss = max(rss, peak_rss(s.proc.pid))
            assert s.stop() == 0
            if got_alone > alone:
                alone, alone_stats = got_alone, stats
            got_loaded, s, stats = catch_up(log, d, f"loaded{i}", args.lines, loaded=True)
            if got_loaded > loaded:
                loaded, load_stats = got_loaded, stats
            if i < args.repeat - 1:
                rss = max(rss, peak_rss(s.proc.pid))
                assert s.stop() == 0
        drop = 1 - loaded / alone
        rows.append(("catch-up throughput, alone", f"{alone:,.0f} lines/s", ""))
        rows.append(
            (
                "catch-up throughput, under load",
                f"{loaded:,.0f} lines/s",
                f"drop {drop:.1%} (≤ 20%)",
            )
        )
        wall, serve_cpu, _ = alone_stats["cpu"]
        rows.append(("  CPU of serve, alone", f"{serve_cpu:.2f} s", f"in {wall:.2f} s"))
        wall, serve_cpu, load_cpu = load_stats["cpu"]
        rows.append(("  CPU of serve, under load", f"{serve_cpu:.2f} s", f"in {wall:.2f} s"))
        rows.append(
            (
                "  CPU of the load clients",
                f"{load_cpu:.2f} s",
                f"the same {os.cpu_count()} cores, meanwhile",
            )
        )
        got = live(s, d / f"loaded{args.repeat - 1}.log", args.rate, args.live_seconds)
        rss = max(rss, peak_rss(s.proc.pid))
        status = s.status()
        assert s.stop() == 0
        scr, q, sse = got["scrapes"], got["queries"], got["sse_delays"]
        rows.append(
            (
                f"live ingest at {args.rate:,} lines/s",
                f"{args.live_seconds:g} s",
                f"lag at the end {status['lag_seconds']:.1f} s",
            )
        )
        rows.append(
            (
                "/metrics, 20 scrapers (p50 / p99)",
                f"{pct(scr, 0.5) * 1000:.1f} / {pct(scr, 0.99) * 1000:.1f} ms",
                f"{len(scr)} scrapes (p99 ≤ 50 ms)",
            )
        )
        rows.append(
            (
                "one-day /api/v1/reports (p50 / p99)",
                f"{pct(q, 0.5) * 1000:.1f} / {pct(q, 0.99) * 1000:.1f} ms",
                f"{len(q)} queries of {min(got['sizes'], default=0):,}"
                f"–{max(got['sizes'], default=0):,} reports (p99 ≤ 100 ms)",
            )
        )
        rows.append(
            (
                "SSE delivery, 100 clients (p50 / p99)",
                f"{pct(sse, 0.5) * 1000:.0f} / {pct(sse, 0.99) * 1000:.0f} ms",
                f"{len(sse)} deliveries (p99 ≤ 1 s)",
            )
        )
        rows.append(("peak RSS of serve", f"{rss / 2**20:.0f} MB", "(≤ 150 MB)"))
        extra = load_stats.get("scrapes", [])
        if extra:
            rows.append(("/metrics p99 during catch-up", f"{pct(extra, 0.99) * 1000:.1f} ms", ""))
        show(rows)
        if args.down_seconds:
            (d / "down").mkdir()
            r = receiver_down(d / "down", args.down_seconds, 10_000)
            show(
                [
                    (
                        f"webhook 503 for {args.down_seconds:g} s, then 200",
                        f"{r['delivered']} of {r['stored']} alerts",
                        f"{r['distinct']} distinct (fingerprint, status, start); "
                        f"{r['failed']} answers 503",
                    ),
                    (
                        "  ingestion lag meanwhile (max)",
                        f"{r['lag']:.1f} s",
                        "10,000 lines/s written, stamped with the wall clock",
                    ),
                ]
            )
        if args.kills:
            from test_service_restart import chaos

            t0 = time.monotonic()
            (d / "chaos").mkdir()
            r = chaos(d / "chaos", kills=args.kills, rate=10_000, seconds=20.0)
            took = f"{r.lines:,} lines, {time.monotonic() - t0:.0f} s"
            show([(f"kill -9 ×{r.kills} at 10k lines/s, 2 rotations", "store equal", took)])
    return 0


def show(rows: list[tuple[str, str, str]]) -> None:
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'measure':<{w0}}  {'value':<{w1}}  note", flush=True)
    for a, b, c in rows:
        print(f"{a:<{w0}}  {b:<{w1}}  {c}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
