"""Live mode (SPEC §8): follow growing files with an idle clock, or replay a file paced.

The loops here are the only place in hitwatch that looks at the wall clock,
and they do it through an injected `now()` and `sleep()`: tests drive them
with fake ones, step by step, without sleeping.

- `IdleClock`: when no record has arrived for more than L seconds of wall
  time, event time advances with the wall clock from the last M, so seconds
  become final (empty), reports keep coming and alerts resolve.
- `FollowLoop`: poll a `Follower`, feed each file's reader, run the idle
  clock, emit events, tell a status-showing sink (the dashboard) how things are.
- `run_paced`: `--speed X`; read finished sources, holding each block back
  until X times its log time has passed on the wall clock. Events are those
  of the unpaced run (SPEC §6: chunking changes nothing).
"""

from __future__ import annotations

import io
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hitwatch.config import Config
from hitwatch.engine.clock import IdleClock
from hitwatch.engine.core import Engine
from hitwatch.model import Status
from hitwatch.outputs import FanOut, Output
from hitwatch.pipeline import Run
from hitwatch.readers import Note, OnInvalid, Reader, make_reader
from hitwatch.render import safe
from hitwatch.sources import Source, SourceError
from hitwatch.sources.follow import Follower, has_magic
from hitwatch.sources.since import since_offset

POLL_INTERVAL = 0.05
"""Seconds to wait when a poll found nothing new (adds at most this to the delay)."""

PACED_BLOCK = 4096
"""Bytes per block when pacing: a few dozen lines, so pacing is smooth."""


@dataclass
class Stop:
    """Set by a signal handler or a key press; the loops stop at their next step."""

    code: int | None = None

    def request(self, code: int) -> None:
        if self.code is None:
            self.code = code

    @property
    def requested(self) -> bool:
        return self.code is not None


class _Rate:
    """Lines read per second of wall time, over the last few seconds."""

    SPAN = 5.0

    def __init__(self, now: float) -> None:
        self._samples: deque[tuple[float, int]] = deque([(now, 0)])
        self.value = 0.0

    def update(self, now: float, lines: int) -> float:
        samples = self._samples
        if now - samples[-1][0] >= 0.5:
            samples.append((now, lines))
            while len(samples) > 2 and now - samples[1][0] >= self.SPAN:
                samples.popleft()
            t0, n0 = samples[0]
            self.value = (lines - n0) / (now - t0)
        return self.value


def fan_out(output: Output) -> FanOut:
    return output if isinstance(output, FanOut) else FanOut([output])


def _placeholder(name: str) -> Source:
    # Readers are fed bytes; the Source only names them.
    return Source(name, io.BytesIO(), live=True)


@dataclass
class _Shell:
    """What both live loops share: readers per source name, emitting, status."""

    format_name: str
    engine: Engine
    output: FanOut
    note: Note
    on_invalid: OnInvalid
    now: Callable[[], float]
    mode: str
    engine_name: str = "auto"  # which reader make_reader gives (--engine)
    state: Run = field(default_factory=Run)
    readers: dict[str, Reader] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    rate: _Rate | None = None

    def feed(self, name: str, data: bytes, source: Source | None = None) -> None:
        reader = self.readers.get(name)
        if reader is None:
            reader = make_reader(
                source or _placeholder(name),
                self.format_name,
                self.engine,
                self.note,
                self.on_invalid,
                engine_name=self.engine_name,
            )
            self.readers[name] = reader
            if name not in self.sources:
                self.sources.append(name)
        self.state.lines += reader.feed(data)

    def end(self, name: str) -> None:
        """A finished source: feed whatever its reader held back."""
        reader = self.readers.pop(name, None)
        if reader is not None:
            self.state.lines += reader.flush()

    def emit(self) -> None:
        events = self.engine.drain()
        if events:
            self.output.emit(events)

    def flush_quiet(self) -> None:
        self.output.flush_quiet()

    def tick(self, *, idle: bool = False) -> bool:
        """Give the outputs the status; False when one asks to stop."""
        now = self.now()
        if self.rate is None:
            self.rate = _Rate(now)
        return self.output.tick(self.status(self.rate.update(now, self.state.lines), idle))

    def status(self, lines_per_s: float, idle: bool) -> Status:
        e = self.engine
        has = e.max_ts >= 0
        return Status(
            mode=self.mode,
            sources=tuple(self.sources),
            log_time=e.max_ts if has else None,
            final=e.final if e.started else None,
            lines=self.state.lines,
            lines_per_s=lines_per_s,
            records=e.records,
            late=e.late,
            invalid=e.invalid,
            idle=idle,
            rules=tuple(rule.status() for rule in e.rules),
        )

    def close(self) -> Run:
        self.emit()
        self.output.close(self.engine.summary(self.state.lines))
        return self.state


class FollowLoop:
    """`--follow`: poll, feed, idle clock, emit; `step()` is one turn, for tests."""

    def __init__(
        self,
        follower: Follower,
        format_name: str,
        engine: Engine,
        output: Output,
        note: Note,
        on_invalid: OnInvalid,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = POLL_INTERVAL,
        stop: Stop | None = None,
        engine_name: str = "auto",
    ) -> None:
        self.follower = follower
        self.engine = engine
        self.now = now
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.stop = stop or Stop()
        self.shell = _Shell(
            format_name, engine, fan_out(output), note, on_invalid, now, "follow", engine_name
        )
        for name in follower.patterns:
            self.shell.sources.append(name)
        self.clock = IdleClock(engine.lateness, now())

    @property
    def state(self) -> Run:
        return self.shell.state

    def step(self) -> bool:
        """One poll: read what is new, advance the idle clock, emit. True if data came."""
        try:
            blocks = self.follower.poll()
        except OSError as exc:
            self.shell.note(f"error: {safe(str(exc))}")
            blocks = []
        rows = self.engine.rows
        for name, data in blocks:
            self.shell.feed(name, data)
        now = self.now()
        self.clock.observe(now, rows, self.engine)
        self.clock.tick(now, self.engine)
        self.shell.emit()
        if not blocks:
            self.shell.flush_quiet()
        if not self.shell.tick(idle=self.clock.idle(now)):
            self.stop.request(0)
        return bool(blocks)

    def run(self) -> Run:
        """Until stopped (signal, key): then flush what is final and the summary."""
        try:
            while not self.stop.requested:
                if not self.step() and not self.stop.requested:
                    self.sleep(self.poll_interval)
        finally:
            self.follower.close()
        self.state.interrupted = self.stop.code not in (None, 0)
        return self.shell.close()


def run_paced(
    sources: Iterable[Source],
    format_name: str,
    engine: Engine,
    output: Output,
    note: Note,
    on_invalid: OnInvalid,
    *,
    speed: float,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stop: Stop | None = None,
    block_size: int = PACED_BLOCK,
    engine_name: str = "auto",
) -> Run:
    """`--speed X`: like `pipeline.run`, holding each block back to X times log time."""
    stop = stop or Stop()
    sources = list(sources)
    mode = f"replay ×{speed:g}"
    shell = _Shell(format_name, engine, fan_out(output), note, on_invalid, now, mode, engine_name)
    state = shell.state
    t0 = 0.0
    m0 = -1
    for source in sources:
        shell.sources.append(source.name)
    for source in sources:
        if stop.requested:
            source.close()
            continue
        try:
            for data in source.blocks(block_size):
                if m0 >= 0:
                    due = t0 + (engine.max_ts - m0) / speed
                    while not stop.requested and (left := due - now()) > 0:
                        shell.flush_quiet()
                        if not shell.tick():
                            stop.request(0)
                        sleep(min(left, 0.1))
                if stop.requested:
                    break
                shell.feed(source.name, data, source)
                if m0 < 0 and engine.max_ts >= 0:
                    m0 = engine.max_ts
                    t0 = now()
                shell.emit()
                if not shell.tick():
                    stop.request(0)
            if not stop.requested:
                shell.end(source.name)
                shell.emit()
        except SourceError as exc:
            state.errors.append(str(exc))
            note(f"error: {safe(str(exc))}")
            shell.end(source.name)
        finally:
            source.close()
    if not stop.requested:
        engine.finish()
    state.interrupted = stop.code not in (None, 0)
    return shell.close()


# ------------------------------------------------------------------ the CLI's side

SIGTERM_EXIT = 0
"""SIGTERM is the ordinary way to stop a follower (systemd, docker stop): a clean exit."""


def usage_problem(config: Config) -> str | None:
    """What is wrong with these live-mode options, or None."""
    follow, speed, since = config.follow, config.speed, config.since
    if since is not None and not follow:
        return "--since needs --follow"
    if follow and speed is not None:
        return "--speed replays finished files; it cannot be combined with --follow"
    if not follow:
        return None
    if "-" in config.paths:
        return "--follow reads files, not standard input (for a pipe: tail -F log | hitwatch -)"
    for path in config.paths:
        if has_magic(path):
            continue
        if not os.path.exists(path):
            return f"{path}: no such file"
        if os.path.isdir(path):
            return f"{path}: is a directory"
        if not os.access(path, os.R_OK):
            return f"{path}: permission denied"
    return None


def run_cli(
    config: Config,
    sources: list[Source],
    engine: Engine,
    output: FanOut,
    note: Note,
    on_invalid: OnInvalid,
) -> Run:
    """`--follow` or `--speed` from the command line: signals, dashboard, the loop.

    Ctrl-C (SIGINT) and SIGTERM stop the loop at its next step; what is final
    is flushed and the summary printed; Ctrl-C then exits 130, SIGTERM 0. A
    second Ctrl-C interrupts at once.
    """
    stop = Stop()
    screen = output.screen
    if screen is not None:
        note = screen.note

    def on_signal(signum: int, _frame: object) -> None:
        if stop.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.request(130 if signum == signal.SIGINT else SIGTERM_EXIT)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if screen is not None:
            screen.start()
        if config.speed is not None:
            return run_paced(
                sources,
                config.format,
                engine,
                output,
                note,
                on_invalid,
                speed=config.speed,
                stop=stop,
                engine_name=config.engine,
            )
        follower = Follower(
            list(config.paths),
            start=_start(config),
            note=note,
            say_start=config.since is not None and config.verbose,  # where --since came to
        )
        loop = FollowLoop(
            follower,
            config.format,
            engine,
            output,
            note,
            on_invalid,
            stop=stop,
            engine_name=config.engine,
        )
        return loop.run()
    except KeyboardInterrupt:
        # The second Ctrl-C: no more waiting, but still the summary.
        stop.request(130)
        run = Run()
        run.interrupted = True
        # The loop's line count is gone with it; the engine's counts add up to it.
        e = engine
        run.lines = e.rows + e.invalid + e.headers + e.empty
        output.emit(e.drain())
        output.close(e.summary(run.lines))
        return run
    finally:
        if screen is not None:
            screen.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _start(config: Config) -> str | Callable[[str, int], int]:
    """Where --since makes the Follower start the files it finds first."""
    since = config.since
    if since is None:
        return "beginning"
    if since == 0:
        return "end"

    def start(path: str, _size: int) -> int:
        return since_offset(path, since, config.format)

    return start
