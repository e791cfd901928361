"""Live latency and CPU of `hitwatch --follow`, with a writer appending at a steady rate.

    python bench/live.py                       # 1k, 10k and 50k lines/s, 20 s each
    python bench/live.py --rates 10000 --seconds 5 --engine python

A writer appends Combined Log Format lines stamped with the current second to
a followed file, every 10 ms. hitwatch runs as `hitwatch -f FILE --output jsonl
--interval 1` (lateness: the live default, 5 s). The report of second S can
only be emitted once log time reaches S + 1 + L, i.e. once the writer writes
the first line stamped S + 1 + L: the *delay* of a report is the time from
that write to the report's arrival on hitwatch's standard output (so it is
the delay beyond the lateness). Percentiles are over lines (each line is
counted by its second's report). CPU is hitwatch's user + system time over
the run's wall time (1.0 = one core), from wait4.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LINE = (
    '10.0.{a}.{b} - - [{stamp}] "GET /api/item/{n} HTTP/1.1" 200 {size} '
    '"https://example.com/" "Mozilla/5.0 (X11; Linux x86_64) bench"\n'
)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def stamp(ts: int) -> str:
    t = time.gmtime(ts)
    return (
        f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def percentile(weighted: list[tuple[float, int]], q: float) -> float:
    """The q-quantile of values given as (value, weight)."""
    total = sum(w for _v, w in weighted)
    if total == 0:
        return float("nan")
    need = q * total
    acc = 0
    for v, w in sorted(weighted):
        acc += w
        if acc >= need:
            return v
    return sorted(weighted)[-1][0]


def run_one(rate: int, seconds: float, lateness: int, engine: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.log"
        log.write_bytes(b"")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        env.pop("PYTHONUNBUFFERED", None)
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "hitwatch", "-f", str(log), "--output", "jsonl"),
                *("--interval", "1", "--lateness", str(lateness), "--engine", engine),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        arrivals: list[tuple[float, dict[str, object]]] = []

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                arrivals.append((time.time(), json.loads(raw)))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(1.0)  # let it start and open the file

        first_write: dict[int, float] = {}  # second -> wall time of its first line's write
        written = 0
        n = 0
        start = time.time()
        cpu_start = time.time()
        with open(log, "ab", buffering=0) as fh:
            while (now := time.time()) - start < seconds + lateness + 2:
                due = int((now - start) * rate) - written
                if due > 0:
                    ts = int(now)
                    st = stamp(ts)
                    data = "".join(
                        LINE.format(a=i % 7, b=i % 200, stamp=st, n=i % 1000, size=i % 5000)
                        for i in range(n, n + due)
                    ).encode()
                    n += due
                    fh.write(data)
                    first_write.setdefault(ts, time.time())
                    written += due
                time.sleep(0.01)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _pid, _status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - cpu_start
        reader.join(timeout=5)
        proc.returncode = 0

    delays: list[tuple[float, int]] = []
    first_second = min(first_write)
    for at, obj in arrivals:
        if obj.get("type") != "stats":
            continue
        end = int(obj["end_ts"])  # type: ignore[call-overload]
        hits = int(obj["hits"])  # type: ignore[call-overload]
        trigger = first_write.get(end + lateness)
        # Skip the first (partial) second and reports the idle clock made at the end.
        if trigger is None or end - 1 <= first_second:
            continue
        delays.append((at - trigger, hits))
    summary = [obj for _at, obj in arrivals if obj.get("type") == "summary"]
    records = int(summary[-1]["records"]) if summary else -1  # type: ignore[call-overload]
    return {
        "rate": rate,
        "written": written,
        "records": records,
        "p50_ms": 1000 * percentile(delays, 0.50),
        "p99_ms": 1000 * percentile(delays, 0.99),
        "max_ms": 1000 * max((d for d, _w in delays), default=float("nan")),
        "cpu": (usage.ru_utime + usage.ru_stime) / wall,
        "reports": len(delays),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="1000,10000,50000")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--lateness", type=int, default=5)
    p.add_argument("--engine", default="auto", help="python, native or auto (default: auto)")
    args = p.parse_args()
    print(
        f"{'lines/s':>8} {'written':>9} {'counted':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'CPU':>6}"
    )
    for rate in (int(r) for r in args.rates.split(",")):
        r = run_one(rate, args.seconds, args.lateness, args.engine)
        print(
            f"{rate:>8} {r['written']:>9.0f} {r['records']:>9.0f} {r['p50_ms']:>8.0f} "
            f"{r['p99_ms']:>8.0f} {r['max_ms']:>8.0f} {r['cpu']:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
