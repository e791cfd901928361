"""Synthetic records as the lines of each format (see hitwatch.generate)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from hitwatch.generate.traffic import AGENTS, REFERERS, Record, Site

VHOSTS = ["www.example.com", "api.example.com", "static.example.com", "shop.example.com"]
_VHOST_WEIGHTS = [50, 30, 15, 5]
_CSV_HEADER = '"remotehost","rfc931","authuser","date","request","status","bytes"'
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _clf_time(ts: int) -> str:
    d = datetime.fromtimestamp(ts, UTC)
    return f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year}:{d:%H:%M:%S} +0000"


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
            ref, agent = rnd.choice(REFERERS), rnd.choice(AGENTS)
            vhost, _port, micros = _extras(extra)
            yield _caddy(misc, ts, host, method, target, status, size, ref, agent, vhost, micros)
            continue
        line = f'{host} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {size or "-"}'
        if fmt in ("combined", "vcombined"):
            line += f' "{rnd.choice(REFERERS)}" "{rnd.choice(AGENTS)}"'
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
    vhost = rnd.choices(VHOSTS, _VHOST_WEIGHTS)[0]
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
