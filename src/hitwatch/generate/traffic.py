"""The records of synthetic traffic: who asks for what, and when (see hitwatch.generate)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Safari/605.1.15",
    "curl/8.4.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
]
REFERERS = ["-", "https://example.com/", "https://www.google.com/"]

# (ts, host, method, target, status, bytes)
Record = tuple[int, str, str, str, int, int]


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
    *AGENTS,
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
_SITE_REFERERS = [*REFERERS, "https://www.bing.com/", "https://duckduckgo.com/"]
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
