"""The `hitwatch` command: options into a Config, sources opened, the run wired, exit codes."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Sequence

from hitwatch.options import build_parser, parse_config
from hitwatch.render import safe

EXIT_OK = 0
EXIT_OUTPUT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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


Command = Callable[[list[str]], int]
"""A subcommand: its arguments (after its name) in, an exit status out."""


def _serve(argv: list[str]) -> int:
    from hitwatch.service.cli import main as serve  # the server's libraries: only for it

    return serve(argv)


def _formats(argv: list[str]) -> int:
    from hitwatch.formats.listing import main as formats

    return formats(argv)


def _check_config(argv: list[str]) -> int:
    """`hitwatch check-config FILE`: the rules as understood, exit 0; or the error, exit 2."""
    import argparse

    from hitwatch import configfile

    parser = argparse.ArgumentParser(
        prog="hitwatch check-config",
        description="Check an alert rules file (TOML) and print its rules as hitwatch "
        "understands them: kinds, windows in seconds, thresholds as exact decimals.",
    )
    parser.add_argument("file", metavar="FILE")
    path = parser.parse_args(argv).file
    try:
        specs = configfile.load(path)
    except configfile.ConfigError as exc:
        note(f"error: {exc}")
        return EXIT_USAGE
    print(safe(f"{path}: {len(specs)} rule{'s' if len(specs) != 1 else ''}"))
    for spec in specs:
        print(safe(f"  {configfile.describe(spec)}"))
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "check-config": _check_config,
    "formats": _formats,
    "serve": _serve,
}
"""`hitwatch NAME ...` runs COMMANDS[NAME]; anything else is the main command
(a log file named like a command can be given as ./NAME)."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]](args[1:])
    return watch(args)


def watch(argv: list[str]) -> int:
    """The main command: read the logs, report and alert."""
    config = parse_config(argv)

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
    config = config._replace(paths=paths)

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
    return EXIT_USAGE if state.errors or state.unreadable else EXIT_OK


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
