"""The `hitwatch` command: options into a Config, sources opened, the run wired, exit codes."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import TypeVar

from hitwatch import __version__
from hitwatch.config import Config, OutputSpec, builtin_rule
from hitwatch.formats import NAMES as FORMAT_NAMES
from hitwatch.outputs import OUTPUTS
from hitwatch.readers import ENGINES
from hitwatch.render import safe

T = TypeVar("T")

EXIT_OK = 0
EXIT_OUTPUT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
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
  clf (Common Log Format), combined (clf + referer and user agent); auto picks
  one per source from its first lines and says which on stderr.

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


# Each option's check raises ValueError with the message for the operator;
# `_typed` makes it argparse's ArgumentTypeError.


def _duration(text: str) -> int:
    """`[0-9]+[smhd]?`, spaces around it allowed: seconds."""
    value = text.strip()
    unit = value[-1:] if value[-1:] in ("s", "m", "h", "d") else ""
    digits = value[: len(value) - len(unit)]
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"expected seconds such as 10, 90s, 2m or 1h, got {text!r}")
    return int(digits) * _UNITS[unit]


def _positive_duration(text: str) -> int:
    value = _duration(text)
    if value <= 0:
        raise ValueError(f"must be more than 0, got {text!r}")
    return value


def _decimal(text: str) -> bool:
    """`[0-9]+(\\.[0-9]*)?|\\.[0-9]+`"""
    whole, _, fraction = text.partition(".")
    return bool(whole or fraction) and all(
        p.isascii() and p.isdigit() for p in (whole, fraction) if p
    )


def _threshold(text: str) -> Fraction:
    text = text.strip()
    if not _decimal(text):
        raise ValueError(f"expected a non-negative number of requests per second, got {text!r}")
    return Fraction(text)


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
    return _duration(text)


def _speed(text: str) -> float:
    if not _decimal(text.strip()) or float(text) <= 0:
        raise ValueError(f"expected a speed-up factor above 0, got {text!r}")
    return float(text)


def _output(text: str) -> OutputSpec:
    kind, colon, path = text.partition(":")
    if kind not in OUTPUTS:
        known = ", ".join(OUTPUTS)
        raise ValueError(f"expected one of {known}, optionally :FILE, got {text!r}")
    if colon and not path:
        raise ValueError(f"expected a file name after {kind}:")
    return OutputSpec(kind, path or None)


def _typed(check: Callable[[str], T]) -> Callable[[str], T]:
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
        "--interval",
        type=_typed(_positive_duration),
        default=10,
        metavar="SECONDS",
        help="report every SECONDS of log time, aligned to the epoch (default: 10)",
    )
    p.add_argument(
        "--window",
        type=_typed(_positive_duration),
        default=120,
        metavar="SECONDS",
        help="the high-traffic alert averages over this many seconds (default: 120)",
    )
    p.add_argument(
        "--threshold",
        type=_typed(_threshold),
        default=Fraction(10),
        metavar="REQ_PER_S",
        help="alert while the average rate over --window is above this; "
        "compared exactly, 0.1 is a tenth (default: 10)",
    )
    p.add_argument(
        "--lateness",
        type=_typed(_duration),
        default=None,
        metavar="SECONDS",
        help="how far out of order a line may arrive and still count (default: "
        "300 for files, 5 for live input such as a pipe)",
    )
    p.add_argument(
        "--top",
        type=_typed(_top),
        default=5,
        metavar="N",
        help="sections and hosts listed per report (default: 5)",
    )
    p.add_argument(
        "--output",
        type=_typed(_output),
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
        type=_typed(_workers),
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
        type=_typed(_since),
        default=None,
        metavar="now|DURATION",
        help="with --follow: start at the end of the files (now), or DURATION of "
        "log time before their end, e.g. 10m (default: from the start)",
    )
    live.add_argument(
        "--speed",
        type=_typed(_speed),
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


def parse_config(argv: Sequence[str]) -> Config:
    """The Config of a command line; argparse exits (SystemExit) on --help,
    --version and usage errors, with its message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    outputs = tuple(args.output or (OutputSpec("text"),))
    if sum(spec.path is None for spec in outputs) > 1:
        parser.error("argument --output: only one output can write to standard output")
    return Config(
        paths=tuple(args.paths),
        format=args.format,
        interval=args.interval,
        lateness=args.lateness,
        top=args.top,
        rules=(builtin_rule(args.window, args.threshold),),
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


class InvalidLog:
    """Prints invalid lines under --verbose, at most `per_second` a second of wall time."""

    def __init__(
        self,
        write: Callable[[str], None],
        per_second: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._per_second = per_second
        self._clock = clock
        self._window_start = -1.0
        self._shown = 0
        self.suppressed = 0

    def __call__(self, source: str, lineno: int, reason: str) -> None:
        now = self._clock()
        if now - self._window_start >= 1.0:
            self._window_start = now
            self._shown = 0
        if self._shown >= self._per_second:
            self.suppressed += 1
            return
        self._shown += 1
        # `write` is the CLI's note(), which already says "hitwatch: ".
        self._write(f"{safe(source)}:{lineno}: invalid line: {reason}")


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(sys.argv[1:] if argv is None else argv)

    from hitwatch import outputs, readers, rules
    from hitwatch.engine.core import Engine
    from hitwatch.pipeline import run
    from hitwatch.sources import Source, SourceError, open_source, stdin_is_live

    paths = config.paths
    if not paths:
        if sys.stdin is None or sys.stdin.isatty():
            build_parser().print_usage(sys.stderr)
            note("error: no input: give a log file, or pipe a log into standard input")
            return EXIT_USAGE
        paths = ("-",)
    if paths.count("-") > 1:
        note("error: standard input ('-') can be read only once")
        return EXIT_USAGE
    config = replace(config, paths=paths)

    if config.live or config.since is not None:
        from hitwatch.live import usage_problem

        problem = usage_problem(config)
        if problem:
            note(f"error: {problem}")
            return EXIT_USAGE
    problem = readers.engine_problem(config.engine, config.format)
    if problem:
        note(f"error: {problem}")
        return EXIT_USAGE

    sources: list[Source] = []
    for path in [] if config.follow else paths:
        try:
            sources.append(open_source(path))
        except SourceError as exc:
            for s in sources:
                s.close()
            note(f"error: {exc}")
            return EXIT_USAGE

    live_input = any(s.live for s in sources) or ("-" in paths and stdin_is_live())
    engine = Engine(
        interval=config.interval,
        lateness=config.lateness_for(live_input),
        top=config.top,
        rules=[rules.build(spec) for spec in config.rules],
    )
    if config.engine == "auto" and config.verbose and not readers.native_usable(engine):
        note("using the pure-Python engine: the compiled kernel is not built here")
    if config.workers is not None:
        from hitwatch.readers import native as native_reader

        native_reader.WORKERS = config.workers
    context = outputs.Context(
        local=config.local,
        live=live_input or config.live,
        dashboard=config.live and config.dashboard,
        interval=config.interval,
        stdout=sys.stdout,
    )
    try:
        output = outputs.build(config.outputs, context)
    except OSError as exc:
        for s in sources:
            s.close()
        note(f"error: {exc.filename}: {exc.strerror or exc}")
        return EXIT_USAGE
    invalid_log = InvalidLog(note) if config.verbose else _ignore

    # The parsers make many short-lived tuples and no cycles: collecting the
    # young generation every 700 allocations costs a third of the run time.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        if config.live:
            from hitwatch.live import run_cli

            state = run_cli(config, sources, engine, output, note, invalid_log)
        else:
            state = run(
                sources,
                config.format,
                engine,
                output,
                note,
                invalid_log,
                engine_name=config.engine,
            )
    except BrokenPipeError:
        # The reader went away (`hitwatch log | head`): stop quietly.
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        # Sources report their own errors (SourceError); this is the output.
        return _output_failed(exc)
    if isinstance(invalid_log, InvalidLog) and invalid_log.suppressed:
        note(f"{invalid_log.suppressed} more invalid lines not shown")
    if state.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_USAGE if state.errors else EXIT_OK


def _ignore(source: str, lineno: int, reason: str) -> None:
    pass


def note(text: str) -> None:
    """A line for the operator on stderr; nothing in it reaches the terminal as a control."""
    print(f"hitwatch: {safe(text)}", file=sys.stderr, flush=True)


def _output_failed(exc: OSError) -> int:
    """A write to an output failed (a full disk, a closed terminal): one line, exit 1."""
    _silence_stdout()  # what is still buffered cannot be written either
    note(f"error: writing the output: {exc.strerror or exc}")
    return EXIT_OUTPUT


def entry() -> None:
    """The `hitwatch` command and `python -m hitwatch`."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as exc:
        code = _output_failed(exc)
    sys.exit(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null: nothing more can be written, nor should the
    interpreter's flush at exit fail with a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
