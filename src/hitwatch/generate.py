"""Synthetic access logs: realistic-looking traffic with a spike, reproducible by seed.

Used for the example log the project ships, for benchmarks and for tests.

    python -m hitwatch.generate --format combined --minutes 8 > access.log
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

SECTIONS = {
    "/api": ["/api/user", "/api/orders", "/api/cart", "/api/search?q=shoes", "/api/user/42"],
    "/static": ["/static/app.js", "/static/style.css", "/static/logo.png"],
    "/report": ["/report", "/report/daily", "/report/weekly?fmt=csv"],
    "/login": ["/login"],
    "/": ["/", "/index.html"],
    "/admin": ["/admin/settings", "/admin/users"],
}
_SECTION_WEIGHTS = [40, 25, 12, 8, 10, 5]
_METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD"]
_METHOD_WEIGHTS = [80, 14, 3, 2, 1]
_STATUS = [200, 201, 204, 301, 304, 400, 401, 403, 404, 500, 502, 503]
_STATUS_WEIGHTS = [70, 3, 2, 2, 6, 2, 2, 1, 6, 3, 1, 2]
_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Safari/605.1.15",
    "curl/8.4.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
_REFERERS = ["-", "https://example.com/", "https://www.google.com/"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _clf_time(ts: int) -> str:
    d = datetime.fromtimestamp(ts, UTC)
    return f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year}:{d:%H:%M:%S} +0000"


def traffic(
    *,
    seconds: int,
    start: int = 1_700_000_000,
    rate: float = 5.0,
    spike_rate: float = 25.0,
    spike: tuple[float, float] = (0.4, 0.6),
    jitter: int = 2,
    seed: int = 1,
) -> Iterator[tuple[int, str, str, str, int, int]]:
    """(ts, host, method, target, status, bytes) in writing order.

    `rate` requests per second on average, `spike_rate` during the fraction
    `spike` of the run; lines are written up to `jitter` seconds out of order,
    as a real server writes the time a request started.
    """
    rnd = random.Random(seed)
    hosts = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(40)]
    host_weights = [1.0 / (i + 1) for i in range(len(hosts))]
    sections = list(SECTIONS.values())
    spike_lo, spike_hi = int(seconds * spike[0]), int(seconds * spike[1])
    for sec in range(seconds):
        r = spike_rate if spike_lo <= sec < spike_hi else rate
        n = int(r) + (1 if rnd.random() < r - int(r) else 0)
        n = max(0, n + rnd.randint(-1, 1)) if r >= 2 else n
        hs = rnd.choices(hosts, host_weights, k=n)
        ss = rnd.choices(sections, _SECTION_WEIGHTS, k=n)
        ms = rnd.choices(_METHODS, _METHOD_WEIGHTS, k=n)
        st = rnd.choices(_STATUS, _STATUS_WEIGHTS, k=n)
        for i in range(n):
            ts = start + sec - (rnd.randint(0, jitter) if jitter and rnd.random() < 0.3 else 0)
            size = 0 if st[i] in (204, 304) else rnd.randint(200, 50_000)
            yield ts, hs[i], ms[i], rnd.choice(ss[i]), st[i], size


def lines(fmt: str, records: Iterator[tuple[int, str, str, str, int, int]]) -> Iterator[str]:
    rnd = random.Random(7)
    if fmt == "csv":
        yield '"remotehost","rfc931","authuser","date","request","status","bytes"'
        for ts, host, method, target, status, size in records:
            yield f'"{host}","-","apache",{ts},"{method} {target} HTTP/1.1",{status},{size}'
        return
    times: dict[int, str] = {}
    for ts, host, method, target, status, size in records:
        stamp = times.get(ts)
        if stamp is None:
            if len(times) > 1000:
                times.clear()
            stamp = times[ts] = _clf_time(ts)
        line = f'{host} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {size or "-"}'
        if fmt == "combined":
            line += f' "{rnd.choice(_REFERERS)}" "{rnd.choice(_AGENTS)}"'
        yield line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hitwatch.generate", description=__doc__)
    p.add_argument("--format", choices=("csv", "clf", "combined"), default="combined")
    p.add_argument("--minutes", type=float, default=8.0, help="log time covered (default: 8)")
    p.add_argument("--lines", type=int, default=0, help="stop after this many lines")
    p.add_argument("--rate", type=float, default=5.0, help="requests per second outside the spike")
    p.add_argument(
        "--spike-rate", type=float, default=25.0, help="requests per second in the spike"
    )
    p.add_argument("--start", type=int, default=1_700_000_000, help="first second (Unix time)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-o", "--out", default="-", help="file to write (default: stdout)")
    args = p.parse_args(argv)
    records = traffic(
        seconds=max(1, int(args.minutes * 60)),
        start=args.start,
        rate=args.rate,
        spike_rate=args.spike_rate,
        seed=args.seed,
    )
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        buf: list[str] = []
        for count, line in enumerate(lines(args.format, records), 1):
            buf.append(line)
            if len(buf) >= 10_000:
                out.write("\n".join(buf) + "\n")
                buf.clear()
            if args.lines and count >= args.lines:
                break
        if buf:
            out.write("\n".join(buf) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
