"""The main command's options: argparse into a `Config`.

Each option's check raises ValueError with the message for the operator;
`typed` makes it argparse's ArgumentTypeError, so every usage error is one
line from argparse and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TypeVar

from hitwatch import __version__, formats
from hitwatch.config import (
    Config,
    OutputSpec,
    RuleSpec,
    builtin_rule,
    parse_duration,
    parse_threshold,
)
from hitwatch.formats import NAMES as FORMAT_NAMES
from hitwatch.outputs import OUTPUTS
from hitwatch.readers import ENGINES
from hitwatch.render import safe

T = TypeVar("T")

DESCRIPTION = """\
Watch web server access logs in log time. Every --interval seconds of log
time hitwatch reports hits, rate, status classes, methods, top sections and
hosts, bytes and error share; it raises a high-traffic alert when the average
rate over --window passes --threshold, and says when it recovers.

Time is the log's own: lines may arrive out of order by up to --lateness
seconds; later ones are counted as late, never silently dropped.
"""

EPILOG = """\
formats: csv ("remotehost","rfc931","authuser","date","request","status","bytes"),
  clf (Common Log Format), combined (clf + referer and user agent), and the
  presets common, vcommon, vcombined, traefik-clf, caddy, traefik-json, w3c,
  cloudfront, aws-elb, aws-alb, haproxy (`hitwatch formats` shows a line of
  each); auto picks one per source from its first lines and says which on
  stderr. --log-format also takes your server's format string as written:
    --log-format '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
    --log-format '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
  and --json-fields maps JSON lines: time=ts,status=status,path=request.uri

outputs: --output text (the default: for people; a live dashboard when
  following on a terminal) or jsonl (one JSON object per event); KIND:FILE
  writes to FILE instead of standard output. Repeat it for several at once.

examples:
  hitwatch access.log
  hitwatch --threshold 1 --output jsonl access.log.1.gz access.log
  hitwatch --output text --output jsonl:events.jsonl access.log
  tail -F access.log | hitwatch -
  hitwatch -f /var/log/nginx/access.log            # live, with a dashboard on a terminal
  hitwatch -f --since 10m '/var/log/nginx/*.log'   # globs are re-checked for new files
  hitwatch --speed 60 access.log.1                 # replay one minute per second

exit status: 0 success (alerts are not errors), 2 bad usage or an unreadable
source, 130 interrupted (Ctrl-C). SIGTERM in live mode (--follow, --speed)
flushes what is final, prints the summary and exits 0.
"""


def _positive_duration(text: str) -> int:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError(f"must be more than 0, got {text!r}")
    return value


def _top(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _workers(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 4:
        raise ValueError(f"expected a whole number from 1 to 4, got {text!r}")
    return int(text)


def _since(text: str) -> int:
    if text.strip() == "now":
        return 0
    return parse_duration(text)


def _speed(text: str) -> float:
    try:
        value = parse_threshold(text)
    except ValueError:
        value = Fraction(0)
    if value <= 0:
        raise ValueError(f"expected a speed-up factor above 0, got {text!r}")
    return float(value)


def _output(text: str) -> OutputSpec:
    kind, colon, path = text.partition(":")
    if kind not in OUTPUTS:
        known = ", ".join(OUTPUTS)
        raise ValueError(f"expected one of {known}, optionally :FILE, got {text!r}")
    if colon and not path:
        raise ValueError(f"expected a file name after {kind}:")
    return OutputSpec(kind, path or None)


def typed(check: Callable[[str], T]) -> Callable[[str], T]:
    """An option's check as argparse's `type`: its ValueError is a usage error."""

    def convert(text: str) -> T:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = check.__name__.lstrip("_")
    return convert


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitwatch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="FILE",
        help="access logs to read, in order; '-' is standard input; .gz files are "
        "decompressed (default: standard input when it is not a terminal)",
    )
    p.add_argument(
        "--format",
        choices=FORMAT_NAMES,
        default="auto",
        help="log format (default: auto)",
    )
    p.add_argument(
        "--log-format",
        default=None,
        metavar="PRESET|FORMAT",
        help="a preset's name, or the nginx log_format / Apache LogFormat string your "
        "server writes, as written in its configuration",
    )
    p.add_argument(
        "--json-fields",
        default=None,
        metavar="FIELD=PATH,...",
        help="read JSON lines: which dotted path holds each field, e.g. "
        "time=ts,status=status,path=request.uri,host=request.client_ip "
        "(fields: time, status, host, method, path, request, bytes, vhost, "
        "duration[:ms|us|ns], xff)",
    )
    p.add_argument(
        "--forwarded-for",
        action="store_true",
        help="the client is the first address of the line's X-Forwarded-For field, "
        "where it has one (the format must read it: $http_x_forwarded_for, "
        "%%{X-Forwarded-For}i, xff=PATH)",
    )
    p.add_argument(
        "--interval",
        type=typed(_positive_duration),
        default=10,
        metavar="SECONDS",
        help="report every SECONDS of log time, aligned to the epoch (default: 10)",
    )
    p.add_argument(
        "--window",
        type=typed(_positive_duration),
        default=None,
        metavar="SECONDS",
        help="the built-in high-traffic alert averages over this many seconds (default: 120)",
    )
    p.add_argument(
        "--threshold",
        type=typed(parse_threshold),
        default=None,
        metavar="REQ_PER_S",
        help="the built-in alert fires while the average rate over --window is above this; "
        "compared exactly, 0.1 is a tenth (default: 10)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="alert rules from a TOML file ([[rules]] tables; they replace the built-in "
        "rule); `hitwatch check-config FILE` shows how they are understood",
    )
    p.add_argument(
        "--lateness",
        type=typed(parse_duration),
        default=None,
        metavar="SECONDS",
        help="how far out of order a line may arrive and still count (default: "
        "300 for files, 5 for live input such as a pipe)",
    )
    p.add_argument(
        "--top",
        type=typed(_top),
        default=5,
        metavar="N",
        help="sections and hosts listed per report (default: 5)",
    )
    p.add_argument(
        "--output",
        type=typed(_output),
        action="append",
        metavar="KIND[:FILE]",
        help="text for people, jsonl (one JSON object per line) for scripts; KIND:FILE "
        "writes to FILE; repeat for several outputs at once (default: text)",
    )
    zone = p.add_mutually_exclusive_group()
    zone.add_argument(
        "--utc",
        dest="local",
        action="store_false",
        default=False,
        help="show times in UTC in text output (default)",
    )
    zone.add_argument(
        "--local", dest="local", action="store_true", help="show times in the local time zone"
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say on stderr which lines are invalid and why (at most 10 a second), "
        "and with --since where each followed file starts",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="native: the compiled kernel, built by pip when a C compiler is present; "
        "python: the pure-Python engine; auto: native when built (default: auto). "
        "Both give the same output",
    )
    p.add_argument(
        "--workers",
        type=typed(_workers),
        default=None,
        metavar="N",
        help="threads the native engine reads a large file with, 1 to 4 (default: "
        "chosen from the file's size and the CPUs free); the output is the same with any number",
    )
    live = p.add_argument_group("live mode")
    live.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep reading the files as they grow, through rotation and truncation, "
        "like tail -F; FILE may be a quoted shell glob, re-checked for new files",
    )
    live.add_argument(
        "--since",
        type=typed(_since),
        default=None,
        metavar="now|DURATION",
        help="with --follow: start at the end of the files (now), or DURATION of "
        "log time before their end, e.g. 10m (default: from the start)",
    )
    live.add_argument(
        "--speed",
        type=typed(_speed),
        default=None,
        metavar="X",
        help="replay finished files paced at X times their own log time",
    )
    live.add_argument(
        "--no-dashboard",
        action="store_true",
        help="with --follow or --speed on a terminal: print the plain text stream "
        "instead of the live dashboard",
    )
    p.add_argument("--version", action="version", version=f"hitwatch {__version__}")
    return p


def _rules(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[RuleSpec, ...]:
    """The built-in rule with --window and --threshold, or the rules of --config."""
    if args.config is None:
        return (
            builtin_rule(
                120 if args.window is None else args.window,
                Fraction(10) if args.threshold is None else args.threshold,
            ),
        )
    if args.window is not None or args.threshold is not None:
        parser.error("--window and --threshold set the built-in rule; with --config, "
                     "set them in the file")  # fmt: skip
    from hitwatch import configfile  # tomllib, for runs with --config only

    try:
        return configfile.load(args.config)
    except configfile.ConfigError as exc:
        print(f"hitwatch: error: {safe(str(exc))}", file=sys.stderr)
        raise SystemExit(2) from None


def parse_config(argv: Sequence[str]) -> Config:
    """The Config of a command line; argparse exits (SystemExit) on --help,
    --version and usage errors, with its message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    outputs = tuple(args.output or (OutputSpec("text"),))
    if sum(spec.path is None for spec in outputs) > 1:
        parser.error("argument --output: only one output can write to standard output")
    try:
        format_name = formats.resolve(
            args.format, args.log_format, args.json_fields, args.forwarded_for
        )
    except formats.FormatError as exc:
        # One line that points at the offending part of the format (exit 2).
        option = "--json-fields" if args.json_fields is not None else "--log-format"
        print(f"hitwatch: error: {option}: {safe(str(exc))}", file=sys.stderr)
        raise SystemExit(2) from None
    return Config(
        paths=tuple(args.paths),
        format=format_name,
        log_format=args.log_format,
        json_fields=args.json_fields,
        forwarded_for=args.forwarded_for,
        interval=args.interval,
        lateness=args.lateness,
        top=args.top,
        rules=_rules(parser, args),
        outputs=outputs,
        local=args.local,
        verbose=args.verbose,
        engine=args.engine,
        workers=args.workers,
        follow=args.follow,
        since=args.since,
        speed=args.speed,
        dashboard=not args.no_dashboard,
    )
