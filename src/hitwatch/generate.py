"""Synthetic access logs: realistic-looking traffic with a spike, reproducible by seed.

Used for the example log the project ships, for benchmarks and for tests.

    python -m hitwatch.generate --format combined --minutes 8 > access.log

By default the traffic is small: 40 client addresses and the six sections of
SECTIONS. `--hosts`, `--sections` and `--paths` switch to a high-cardinality
site instead (Zipf-like weights 1/(i+1)^s for clients, sections and the paths
within each section, with query strings on some paths), drawn in batches so
that ten million lines take seconds rather than minutes:

    python -m hitwatch.generate --hosts 50000 --sections 300 --paths 1000 \\
        --minutes 1440 --rate 110 --spike-rate 230 --spike 0.45,0.5 -o day.log

The same seed and options give the same records (time, client, request,
status, bytes) in every format. `vcombined` adds a virtual host and `%D`
(Apache's `%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D`)
and `caddy` writes Caddy's JSON access log; their hosts, durations and
sub-second times come from a stream of their own, so the records stay the same.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

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
_VHOSTS = ["www.example.com", "api.example.com", "static.example.com", "shop.example.com"]
_VHOST_WEIGHTS = [50, 30, 15, 5]
_CSV_HEADER = '"remotehost","rfc931","authuser","date","request","status","bytes"'
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# (ts, host, method, target, status, bytes)
Record = tuple[int, str, str, str, int, int]


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
    site: Site | None = None,
) -> Iterator[Record]:
    """(ts, host, method, target, status, bytes) in writing order.

    `rate` requests per second on average, `spike_rate` during the fraction
    `spike` of the run; lines are written up to `jitter` seconds out of order,
    as a real server writes the time a request started. Without `site`, the
    small default traffic (the example log); with one, its clients and paths.
    """
    if site is None:
        return _small_traffic(seconds, start, rate, spike_rate, spike, jitter, seed)
    batches = _site_batches(site, seconds, start, rate, spike_rate, spike, jitter, seed)
    return itertools.chain.from_iterable(batches)


def _per_second(
    rnd: random.Random, seconds: int, rate: float, spike_rate: float, spike: tuple[float, float]
) -> Iterator[tuple[int, int]]:
    """(second, requests in it), both default and site traffic."""
    spike_lo, spike_hi = int(seconds * spike[0]), int(seconds * spike[1])
    for sec in range(seconds):
        r = spike_rate if spike_lo <= sec < spike_hi else rate
        n = int(r) + (1 if rnd.random() < r - int(r) else 0)
        n = max(0, n + rnd.randint(-1, 1)) if r >= 2 else n
        yield sec, n


def _small_traffic(
    seconds: int,
    start: int,
    rate: float,
    spike_rate: float,
    spike: tuple[float, float],
    jitter: int,
    seed: int,
) -> Iterator[Record]:
    # The example log is made by this loop: any change to its draws changes it.
    rnd = random.Random(seed)
    hosts = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(40)]
    host_weights = [1.0 / (i + 1) for i in range(len(hosts))]
    sections = list(SECTIONS.values())
    for sec, n in _per_second(rnd, seconds, rate, spike_rate, spike):
        hs = rnd.choices(hosts, host_weights, k=n)
        ss = rnd.choices(sections, _SECTION_WEIGHTS, k=n)
        ms = rnd.choices(_METHODS, _METHOD_WEIGHTS, k=n)
        st = rnd.choices(_STATUS, _STATUS_WEIGHTS, k=n)
        for i in range(n):
            ts = start + sec - (rnd.randint(0, jitter) if jitter and rnd.random() < 0.3 else 0)
            size = 0 if st[i] in (204, 304) else rnd.randint(200, 50_000)
            yield ts, hs[i], ms[i], rnd.choice(ss[i]), st[i], size


# A high-cardinality site.

_WORDS = (  # noqa: SIM905 (a list literal would take 62 lines)
    "api static images blog docs products search account cart checkout help news assets "
    "media user users orders reports admin login feed tags category about download video "
    "shop items reviews comments settings profile billing invoices events calendar status "
    "health metrics export upload files archive press careers support forum wiki graphql "
    "v1 v2 cdn fonts css js img thumbs catalog brands offers deals wishlist"
).split()
_EXTENSIONS = ["", "", "", "", ".html", ".json", ".js", ".css", ".png", ".jpg", ".svg", ".woff2"]
_QUERY_KEYS = ["q", "id", "page", "sort", "lang", "ref", "utm_source", "v", "limit", "filter"]
_SITE_AGENTS = [
    *_AGENTS,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "python-requests/2.31.0",
    "Wget/1.21.4",
]
_SITE_AGENT_WEIGHTS = [30, 12, 3, 4, 25, 8, 10, 6, 2, 1, 1]
_SITE_REFERERS = [*_REFERERS, "https://www.bing.com/", "https://duckduckgo.com/"]
_SITE_REFERER_WEIGHTS = [50, 20, 15, 3, 2]
_NO_BODY = frozenset((204, 304))
T = TypeVar("T")


def _table(values: Sequence[T], weights: Sequence[int]) -> list[T]:
    """`values` repeated by their integer weights: an unweighted draw from it is a
    weighted draw from `values`, several times faster than choices(weights=...)."""
    return [v for v, w in zip(values, weights, strict=True) for _ in range(w)]


def zipf_weights(n: int, s: float) -> list[float]:
    """1/(i+1)^s for i < n: rank i's share of the traffic, up to a constant."""
    return [1.0 / (i + 1) ** s for i in range(n)]


@dataclass(frozen=True)
class Site:
    """Who visits what: clients, request targets and the Combined extras, each
    with its cumulative weights (or as a table to draw from uniformly)."""

    hosts: list[str]
    host_cum: list[float]
    targets: list[str]
    target_cum: list[float]
    referers: list[str]
    agents: list[str]

    @classmethod
    def make(
        cls,
        *,
        hosts: int = 40,
        sections: int = 0,
        paths: int = 40,
        zipf: float = 1.0,
        queries: float = 0.15,
        seed: int = 1,
    ) -> Site:
        """`hosts` client addresses; `sections` sections of up to `paths` paths
        each (the first sections have the most; 0 sections: the six of
        SECTIONS), a fraction `queries` of them with a query string. Ranks
        are weighted 1/(i+1)^zipf."""
        rnd = random.Random(f"site:{seed}")
        host_names = _addresses(rnd, hosts)
        if sections:
            weighted = _targets(rnd, sections, paths, zipf, queries)
        else:
            weighted = [
                (target, w / len(targets))
                for targets, w in zip(SECTIONS.values(), _SECTION_WEIGHTS, strict=True)
                for target in targets
            ]
        return cls(
            hosts=host_names,
            host_cum=list(itertools.accumulate(zipf_weights(hosts, zipf))),
            targets=[t for t, _w in weighted],
            target_cum=list(itertools.accumulate(w for _t, w in weighted)),
            referers=_table(_SITE_REFERERS, _SITE_REFERER_WEIGHTS),
            agents=_table(_SITE_AGENTS, _SITE_AGENT_WEIGHTS),
        )


def _addresses(rnd: random.Random, n: int) -> list[str]:
    """`n` distinct IPv4 addresses, scattered like a public site's clients."""
    seen: set[int] = set()
    out: list[str] = []
    while len(out) < n:
        a = rnd.getrandbits(32)
        if a in seen or (a >> 24) in (0, 10, 127) or (a >> 24) >= 224:
            continue
        seen.add(a)
        out.append(f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}")
    return out


def _targets(
    rnd: random.Random, sections: int, paths: int, zipf: float, queries: float
) -> list[tuple[str, float]]:
    """(target, weight): section i weighs 1/(i+1)^zipf, split over its paths
    by the same law; section i has about paths/sqrt(i+1) paths."""
    names = [f"/{w}" for w in _WORDS]
    names += [f"/{w}-{k}" for k in range(2, sections // len(_WORDS) + 3) for w in _WORDS]
    out: list[tuple[str, float]] = []
    for i, (section, sw) in enumerate(zip(names, zipf_weights(sections, zipf), strict=False)):
        count = max(1, round(paths / (i + 1) ** 0.5))
        seen: set[str] = set()
        while len(seen) < count:
            depth = rnd.choice((0, 1, 1, 2))
            parts = [section, *(rnd.choice(_WORDS) for _ in range(depth))]
            leaf = rnd.choice(_WORDS) if rnd.random() < 0.5 else str(rnd.randrange(100_000))
            target = "/".join([*parts, leaf]) + rnd.choice(_EXTENSIONS)
            if rnd.random() < queries:
                keys = rnd.sample(_QUERY_KEYS, rnd.randint(1, 3))
                target += "?" + "&".join(f"{k}={rnd.randrange(1000)}" for k in keys)
            seen.add(target)
        pw = zipf_weights(count, zipf)
        total = sum(pw)
        out += [(t, sw * w / total) for t, w in zip(sorted(seen), pw, strict=True)]
    return out


def _site_batches(
    site: Site,
    seconds: int,
    start: int,
    rate: float,
    spike_rate: float,
    spike: tuple[float, float],
    jitter: int,
    seed: int,
) -> Iterator[list[Record]]:
    """Each second's records, drawn a whole column at a time."""
    rnd = random.Random(seed)
    methods = _table(_METHODS, _METHOD_WEIGHTS)
    statuses = _table(_STATUS, _STATUS_WEIGHTS)
    # As the small traffic: 30% of the lines are 0..jitter seconds late.
    lags = [0] * (7 * (jitter + 1)) + list(range(jitter + 1)) * 3 if jitter else [0]
    sizes = [min(int(rnd.lognormvariate(8.5, 1.3)), 5_000_000) for _ in range(4096)]
    choices = rnd.choices
    for sec, n in _per_second(rnd, seconds, rate, spike_rate, spike):
        now = start + sec
        st = choices(statuses, k=n)
        sz = choices(sizes, k=n)
        yield list(
            zip(
                [now - lag for lag in choices(lags, k=n)],
                choices(site.hosts, cum_weights=site.host_cum, k=n),
                choices(methods, k=n),
                choices(site.targets, cum_weights=site.target_cum, k=n),
                st,
                [0 if s in _NO_BODY else b for s, b in zip(st, sz, strict=True)],
                strict=True,
            )
        )


def lines(fmt: str, records: Iterable[Record], site: Site | None = None) -> Iterator[str]:
    """The records as lines of `fmt` (csv, clf, combined, vcombined, caddy), without newlines.

    Combined's referer and user agent come from a stream of their own (so
    every format carries the same records): the site's, or the default few.
    """
    if site is None:
        return _small_lines(fmt, records)
    return itertools.chain.from_iterable(_site_chunks(fmt, _batched(records, 4096), site))


def _small_lines(fmt: str, records: Iterable[Record]) -> Iterator[str]:
    rnd = random.Random(7)
    extra = random.Random(11)  # vhosts, durations: vcombined and caddy only
    misc = random.Random(13)  # caddy's sub-second times and client ports
    if fmt == "csv":
        yield _CSV_HEADER
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
        if fmt == "caddy":
            ref, agent = rnd.choice(_REFERERS), rnd.choice(_AGENTS)
            vhost, _port, micros = _extras(extra)
            yield _caddy(misc, ts, host, method, target, status, size, ref, agent, vhost, micros)
            continue
        line = f'{host} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {size or "-"}'
        if fmt in ("combined", "vcombined"):
            line += f' "{rnd.choice(_REFERERS)}" "{rnd.choice(_AGENTS)}"'
        if fmt == "vcombined":
            vhost, port, micros = _extras(extra)
            line = f"{vhost}:{port} {line} {micros}"
        yield line


def _batched(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(items)
    return iter(lambda: list(itertools.islice(it, size)), [])


def _site_chunks(fmt: str, chunks: Iterable[list[Record]], site: Site) -> Iterator[list[str]]:
    """`lines` for a site, a list of lines for each chunk of records: list
    comprehensions rather than generators, the fastest way to format them."""
    if fmt == "csv":
        yield [_CSV_HEADER]
        for chunk in chunks:
            yield [
                f'"{h}","-","apache",{t},"{m} {u} HTTP/1.1",{s},{b}' for t, h, m, u, s, b in chunk
            ]
        return
    rnd = random.Random(7)
    extra = random.Random(11)  # vhosts, durations: vcombined and caddy only
    misc = random.Random(13)  # caddy's sub-second times and client ports
    times: dict[int, str] = {}
    for chunk in chunks:
        if not chunk:
            continue
        if len(times) > 1000:
            times.clear()
        seconds = [record[0] for record in chunk]
        for ts in range(min(seconds), max(seconds) + 1):
            if ts not in times:
                times[ts] = _clf_time(ts)
        if fmt == "clf":
            yield [
                f'{h} - - [{times[t]}] "{m} {u} HTTP/1.1" {s} {b or "-"}'
                for t, h, m, u, s, b in chunk
            ]
            continue
        refs = rnd.choices(site.referers, k=len(chunk))
        agents = rnd.choices(site.agents, k=len(chunk))
        if fmt == "combined":
            yield [
                f'{h} - - [{times[t]}] "{m} {u} HTTP/1.1" {s} {b or "-"} "{r}" "{a}"'
                for (t, h, m, u, s, b), r, a in zip(chunk, refs, agents, strict=True)
            ]
            continue
        extras = [_extras(extra) for _ in chunk]
        if fmt == "vcombined":
            yield [
                f'{v}:{p} {h} - - [{times[t]}] "{m} {u} HTTP/1.1" {s} {b or "-"} "{r}" "{a}" {d}'
                for (t, h, m, u, s, b), r, a, (v, p, d) in zip(
                    chunk, refs, agents, extras, strict=True
                )
            ]
            continue
        yield [
            _caddy(misc, t, h, m, u, s, b, r, a, v, d)
            for (t, h, m, u, s, b), r, a, (v, _p, d) in zip(
                chunk, refs, agents, extras, strict=True
            )
        ]


def _extras(rnd: random.Random) -> tuple[str, int, int]:
    """(virtual host, port, duration in µs) of one request."""
    vhost = rnd.choices(_VHOSTS, _VHOST_WEIGHTS)[0]
    return vhost, 443 if rnd.random() < 0.9 else 80, int(rnd.lognormvariate(9.0, 1.2))


def _caddy(
    rnd: random.Random,
    ts: int,
    host: str,
    method: str,
    target: str,
    status: int,
    size: int,
    referer: str,
    agent: str,
    vhost: str,
    micros: int,
) -> str:
    """One line of Caddy's JSON access log (the generator's values need no escaping)."""
    ref = f',"Referer":["{referer}"]' if referer != "-" else ""
    return (
        f'{{"level":"info","ts":{ts}.{rnd.randrange(1_000_000):06d},'
        f'"logger":"http.log.access","msg":"handled request","request":{{'
        f'"remote_ip":"{host}","remote_port":"{rnd.randrange(1024, 65536)}",'
        f'"client_ip":"{host}","proto":"HTTP/1.1","method":"{method}","host":"{vhost}",'
        f'"uri":"{target}","headers":{{"User-Agent":["{agent}"],"Accept":["*/*"]{ref}}}}},'
        f'"bytes_read":0,"user_id":"","duration":{micros / 1e6},"size":{size},'
        f'"status":{status},"resp_headers":{{"Server":["Caddy"],'
        f'"Content-Type":["text/html; charset=utf-8"]}}}}'
    )


def _spike(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition(",")
    try:
        span = float(lo), float(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START,END fractions, got {text!r}") from None
    if not 0 <= span[0] <= span[1] <= 1:
        raise argparse.ArgumentTypeError(f"expected 0 <= START <= END <= 1, got {text!r}")
    return span


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m hitwatch.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--format", choices=("csv", "clf", "combined", "vcombined", "caddy"), default="combined"
    )
    p.add_argument("--minutes", type=float, default=8.0, help="log time covered (default: 8)")
    p.add_argument("--lines", type=int, default=0, help="stop after this many lines")
    p.add_argument("--rate", type=float, default=5.0, help="requests per second outside the spike")
    p.add_argument(
        "--spike-rate", type=float, default=25.0, help="requests per second in the spike"
    )
    p.add_argument(
        "--spike",
        type=_spike,
        default=(0.4, 0.6),
        metavar="START,END",
        help="the spike's span, as fractions of the log time (default: 0.4,0.6)",
    )
    p.add_argument("--start", type=int, default=1_700_000_000, help="first second (Unix time)")
    p.add_argument("--seed", type=int, default=1)
    site = p.add_argument_group("high-cardinality site (any of these switches to it)")
    site.add_argument("--hosts", type=int, default=0, help="distinct client addresses")
    site.add_argument(
        "--sections", type=int, default=0, help="sections (default: the six built-in ones)"
    )
    site.add_argument(
        "--paths", type=int, default=0, help="paths in the first section (default: 40)"
    )
    site.add_argument(
        "--zipf", type=float, default=1.0, help="exponent s of the weights 1/(i+1)^s (default: 1)"
    )
    site.add_argument(
        "--queries",
        type=float,
        default=0.15,
        help="fraction of paths with a query string (default: 0.15)",
    )
    p.add_argument("-o", "--out", default="-", help="file to write (default: stdout)")
    args = p.parse_args(argv)
    for name in ("hosts", "sections", "paths"):
        if getattr(args, name) < 0:
            p.error(f"--{name} must be >= 0")
    chosen = None
    if args.hosts or args.sections or args.paths:
        chosen = Site.make(
            hosts=args.hosts or 40,
            sections=args.sections,
            paths=args.paths or 40,
            zipf=args.zipf,
            queries=args.queries,
            seed=args.seed,
        )
    records = traffic(
        seconds=max(1, int(args.minutes * 60)),
        start=args.start,
        rate=args.rate,
        spike_rate=args.spike_rate,
        spike=args.spike,
        seed=args.seed,
        site=chosen,
    )
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    # Records and lines form no cycles: the collector would only walk the
    # millions of young tuples (10% of the time of a big site log).
    gc.disable()
    try:
        text = lines(args.format, records, chosen)
        if args.lines:
            text = itertools.islice(text, args.lines)
        while buf := list(itertools.islice(text, 10_000)):
            out.write("\n".join(buf) + "\n")
    finally:
        gc.enable()
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
