"""`hitwatch serve`: its options, checked, into a ServeConfig; exit codes.

Imported lazily by `hitwatch.cli` (COMMANDS["serve"]); the web stack is
imported only once the options are good, so `serve --help` and usage errors
are quick and never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from fractions import Fraction

from hitwatch import configfile
from hitwatch.config import (
    LIVE_LATENESS,
    RuleSpec,
    builtin_rule,
    parse_duration,
    parse_threshold,
)
from hitwatch.formats import NAMES as FORMAT_NAMES
from hitwatch.options import typed
from hitwatch.readers import ENGINES
from hitwatch.render import safe

EXIT_OK = 0
EXIT_USAGE = 2

DESCRIPTION = """\
Run hitwatch as a service: read the access logs from their start (or from
where the state directory says it stopped), follow them as --follow does,
and serve Prometheus metrics, the stored reports and alerts, a status and a
live event stream over HTTP; send every alert to webhooks and Alertmanager.
"""

EPILOG = """\
endpoints: /metrics, /api/v1/reports, /api/v1/alerts, /api/v1/status,
  /api/v1/events (Server-Sent Events), /healthz. See docs/service.md.

examples:
  hitwatch serve --state /var/lib/hitwatch /var/log/nginx/access.log
  hitwatch serve --listen 0.0.0.0:9514 --token-file /etc/hitwatch/token access.log
  hitwatch serve --notify http://127.0.0.1:5001/hook --alertmanager http://127.0.0.1:9093 access.log

signals: SIGTERM or Ctrl-C commits the state and stops (exit 0); SIGHUP reads
  the token file again.
"""


def _listen(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:9514, got {text!r}")
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    if not host.isascii() or not host.isprintable() or " " in host:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:9514, got {text!r}")
    return host, int(port)


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) < 9 or not text.isprintable():
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def _positive(text: str) -> int:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError(f"must be more than 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    value = parse_threshold(text)
    if value <= 0:
        raise ValueError(f"expected seconds above 0, got {text!r}")
    return float(value)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 10_000:
        raise ValueError(f"expected a whole number from 1 to 10000, got {text!r}")
    return int(text)


def _severity(text: str) -> str:
    if not (1 <= len(text) <= 32 and text.isascii() and text.isidentifier()):
        raise ValueError(f"expected a word such as warning or critical, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitwatch serve",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="FILE",
        help="access logs to follow (quoted shell globs are re-checked for new files)",
    )
    p.add_argument(
        "--listen",
        type=typed(_listen),
        default=("127.0.0.1", 9514),
        metavar="HOST:PORT",
        help="where to serve HTTP (default: 127.0.0.1:9514; "
        "port 0 picks a free one, said on stderr)",
    )
    p.add_argument(
        "--state",
        metavar="DIR",
        help="a new or empty directory for the history "
        "and the restart state, or one such a run left (default: a temporary one, "
        "removed at exit)",
    )
    p.add_argument(
        "--notify",
        type=typed(_url),
        action="append",
        default=[],
        metavar="URL",
        help="POST each alert event to URL as an Alertmanager webhook payload (repeatable)",
    )
    p.add_argument(
        "--alertmanager",
        type=typed(_url),
        metavar="URL",
        help="POST alerts to Alertmanager's URL/api/v2/alerts",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="require 'Authorization: Bearer TOKEN' on /metrics and /api/*, TOKEN read from FILE",
    )
    p.add_argument(
        "--retention",
        type=typed(_positive),
        default=30 * 86400,
        metavar="DURATION",
        help="keep events this long in log time (default: 30d)",
    )
    p.add_argument(
        "--severity",
        type=typed(_severity),
        default="warning",
        help="the severity label of notifications (default: warning)",
    )
    p.add_argument(
        "--max-sse-clients",
        type=typed(_count),
        default=256,
        metavar="N",
        help="event stream clients at once (default: 256)",
    )
    p.add_argument(
        "--retry-max",
        type=typed(_seconds),
        default=60.0,
        metavar="SECONDS",
        help="longest wait between retries of a notification (default: 60)",
    )
    p.add_argument(
        "--resend",
        type=typed(_seconds),
        default=60.0,
        metavar="SECONDS",
        help="re-send firing alerts to Alertmanager this often (default: 60)",
    )
    reading = p.add_argument_group("reading (as the main command)")
    reading.add_argument("--format", choices=FORMAT_NAMES, default="auto")
    reading.add_argument(
        "--interval",
        type=typed(_positive),
        default=10,
        metavar="SECONDS",
        help="report every SECONDS of log time (default: 10)",
    )
    reading.add_argument(
        "--window",
        type=typed(_positive),
        default=None,
        metavar="SECONDS",
        help="the built-in high-traffic alert's window (default: 120)",
    )
    reading.add_argument(
        "--threshold",
        type=typed(parse_threshold),
        default=None,
        metavar="REQ_PER_S",
        help="the built-in high-traffic alert's threshold (default: 10)",
    )
    reading.add_argument(
        "--config",
        metavar="FILE",
        help="alert rules from a TOML file, as for the main command; read again on SIGHUP "
        "(a bad one is reported and the rules in force kept)",
    )
    reading.add_argument(
        "--lateness",
        type=typed(parse_duration),
        default=LIVE_LATENESS,
        metavar="SECONDS",
        help=f"allowed lateness (default: {LIVE_LATENESS}, as for live input)",
    )
    reading.add_argument(
        "--top",
        type=typed(_count),
        default=5,
        metavar="N",
        help="sections and hosts per report (default: 5)",
    )
    reading.add_argument(
        "--engine", choices=ENGINES, default="auto", help="native, python or auto (default: auto)"
    )
    return p


def note(text: str) -> None:
    print(f"hitwatch: {safe(text)}", file=sys.stderr, flush=True)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    from hitwatch.readers import engine_problem

    problem = engine_problem(args.engine, args.format)
    for path in args.paths:
        if problem:
            break
        if path == "-":
            problem = "serve follows files, not standard input"
        elif not any(c in path for c in "*?[") and not os.path.isfile(path):
            problem = f"{path}: {'is a directory' if os.path.isdir(path) else 'no such file'}"
    if problem:
        note(f"error: {problem}")
        return EXIT_USAGE

    from hitwatch.service.ingest import Settings
    from hitwatch.service.notify import WEBHOOK, Receiver
    from hitwatch.service.run import ServeConfig, Usage, serve

    if args.config is not None and (args.window is not None or args.threshold is not None):
        note("error: --window and --threshold set the built-in rule; with --config, "
             "set them in the file")  # fmt: skip
        return EXIT_USAGE
    config_path: str | None = args.config

    def load_rules() -> tuple[RuleSpec, ...]:
        if config_path is None:
            window = 120 if args.window is None else args.window
            threshold = Fraction(10) if args.threshold is None else args.threshold
            return (builtin_rule(window, threshold),)
        return configfile.load(config_path)

    try:
        specs = load_rules()
    except configfile.ConfigError as exc:
        note(f"error: {exc}")
        return EXIT_USAGE

    receivers = [Receiver(WEBHOOK, url) for url in dict.fromkeys(args.notify)]
    if args.alertmanager:
        receivers.append(Receiver.alertmanager(args.alertmanager))
    host, port = args.listen
    settings = Settings(
        paths=tuple(args.paths),
        format=args.format,
        engine=args.engine,
        interval=args.interval,
        lateness=args.lateness,
        top=args.top,
        rules=specs,
        retention=args.retention,
        receivers=tuple(receivers),
        severity=args.severity,
    )
    cfg = ServeConfig(
        settings=settings,
        host=host,
        port=port,
        state=args.state,
        token_file=args.token_file,
        max_sse_clients=args.max_sse_clients,
        retry_max=args.retry_max,
        retry_initial=min(0.5, args.retry_max),
        resend=args.resend,
        reload_rules=load_rules if config_path is not None else None,
    )
    try:
        return serve(cfg, note)
    except Usage as exc:
        note(f"error: {exc}")
        return EXIT_USAGE
