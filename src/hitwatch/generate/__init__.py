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
import sys

from hitwatch.generate.formatting import lines
from hitwatch.generate.traffic import SECTIONS, Record, Site, traffic, zipf_weights

__all__ = ["SECTIONS", "Record", "Site", "lines", "main", "traffic", "zipf_weights"]


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
