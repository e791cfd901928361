"""Ingestion for `hitwatch serve`: follow, feed, idle clock, checkpoint (SPEC §8, §11).

Runs in a thread of its own; nothing here waits for the HTTP side. Each step
polls the Follower, feeds every block to its source's reader, runs the idle
clock and drains the engine. Events wait in memory until the next commit,
which writes, in one SQLite transaction, the events, their notifications
(outbox rows), the alerts firing now and the checkpoint: every file's
position, the engine's snapshot, each source's reader state (its decided
format and line number), the line count and the metric totals. Only then are
the new events published (SSE, notifiers): whatever a client saw is stored.

A `kill -9` loses at most what came after the last commit, and the restart
reads exactly that again from the recorded positions into the restored engine,
so the same events follow with the same ids: none lost, none twice.
"""

from __future__ import annotations

import fnmatch
import io
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from hitwatch import rules
from hitwatch.config import RuleSpec
from hitwatch.engine.clock import IdleClock
from hitwatch.engine.core import Engine
from hitwatch.model import Alert, Event
from hitwatch.readers import Reader, make_reader
from hitwatch.readers.python import SourceReader
from hitwatch.render import safe
from hitwatch.service import ids
from hitwatch.service.metrics import SourceView, Totals, View
from hitwatch.service.notify import Receiver, payload, update_firing
from hitwatch.service.store import OutboxItem, StateError, Store
from hitwatch.sources import Source
from hitwatch.sources.follow import Follower, has_magic
from hitwatch.sources.positions import Position

CHECKPOINT_VERSION = 1

Published = list[tuple[int, ids.Stored]]


@dataclass(frozen=True)
class Settings:
    paths: tuple[str, ...]
    format: str = "auto"
    engine: str = "auto"
    interval: int = 10
    lateness: int = 5
    top: int = 5
    rules: tuple[RuleSpec, ...] = ()
    retention: int = 30 * 86400
    receivers: tuple[Receiver, ...] = ()
    severity: str = "warning"
    external_url: str = "http://127.0.0.1:9514"
    poll_interval: float = 0.05
    commit_every: float = 0.1  # seconds between commits while events wait
    checkpoint_every: float = 1.0  # seconds between commits of positions alone
    prune_every: float = 60.0


class Ingest:
    """See the module docstring. `load()`, then `run(stop)` in a thread."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        note: Callable[[str], None],
        publish: Callable[[Published], None],
        *,
        now: Callable[[], float] = time.monotonic,
        on_invalid: Callable[[str, int, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.note = note
        self.publish = publish
        self.now = now
        self.on_invalid = on_invalid or (lambda _s, _n, _r: None)
        self.view = View()
        self.checkpoints = 0
        self.lines = 0
        self.pending: list[Event] = []
        self.dirty = False
        self._data_at = -1e18  # when a poll last brought data
        self._reload: tuple[RuleSpec, ...] | None = None
        self._lock = threading.Lock()
        self.engine = self._engine(settings.rules)
        self.readers: dict[str, Reader] = {}
        self._reader_state: dict[str, tuple[str | None, int]] = {}
        self.totals = Totals()
        self.firing: dict[str, Any] = {}
        self.follower = Follower(list(settings.paths), note=note)
        self.clock = IdleClock(self.engine.lateness, now())
        self._last_commit = now()
        self._last_prune = float("-inf")
        self.view_at = float("-inf")

    # ------------------------------------------------------------- state

    def _engine(self, specs: Sequence[RuleSpec]) -> Engine:
        s = self.settings
        return Engine(
            interval=s.interval,
            lateness=s.lateness,
            top=s.top,
            rules=[rules.build(spec) for spec in specs],
        )

    def load(self) -> bool:
        """Take the store's checkpoint back, if it has one; True if it did."""
        state = self.store.get("checkpoint")
        if state is None:
            return False
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            raise StateError(f"{self.store.directory}: a checkpoint of another version")
        try:
            self.engine.restore(state["engine"])
        except ValueError as exc:
            options = state["engine"].get("options")
            raise StateError(
                f"{self.store.directory}: {exc} (it was made with --interval, lateness and "
                f"--top {options}); give those options again, or another --state"
            ) from None
        self.lines = int(state["lines"])
        self.totals = Totals.from_json(state.get("totals"))
        self.firing = dict(self.store.get("firing") or {})
        for name, (fmt, lineno) in dict(state["readers"]).items():
            self._reader_state[str(name)] = (fmt, int(lineno))
        positions = [Position.from_json(p) for p in state["positions"]]
        self.follower = Follower(
            list(self.settings.paths),
            note=self.note,
            resume=[p for p in positions if self._watched(p)],
        )
        if self.engine.max_ts >= 0:
            # As if a record had just arrived: the idle clock counts from the restart.
            self.clock.observe(self.now(), self.engine.rows - 1, self.engine)
        return True

    def _watched(self, p: Position) -> bool:
        if p.role == "done":
            return True
        return any(
            p.name == pattern or (has_magic(pattern) and fnmatch.fnmatch(p.name, pattern))
            for pattern in self.settings.paths
        )

    def reload(self, specs: tuple[RuleSpec, ...]) -> None:
        """Use these rules from the next step on (SIGHUP); rules configured
        alike keep their state (Engine.restore)."""
        for spec in specs:
            rules.build(spec)  # raises ValueError now, in the caller's thread
        with self._lock:
            self._reload = specs

    def _apply_reload(self) -> None:
        with self._lock:
            specs, self._reload = self._reload, None
        if specs is None:
            return
        if self.pending:
            self.commit()
        state = self.engine.snapshot()
        engine = self._engine(specs)
        engine.restore(state)
        self.engine = engine
        for name, reader in list(self.readers.items()):
            self._reader_state[name] = _reader_state(reader)
        self.readers.clear()
        self.settings = _replace_rules(self.settings, specs)
        self.dirty = True
        self.note(f"reloaded: {len(specs)} alert rule(s)")

    # -------------------------------------------------------------- loop

    def run(self, stop: threading.Event) -> None:
        """Step until `stop` is set, then commit and close the files."""
        try:
            while not stop.is_set():
                if not self.step():
                    stop.wait(self.settings.poll_interval)
            self.commit()
        finally:
            self.follower.close()

    def step(self) -> bool:
        """One poll; True if data came."""
        self._apply_reload()
        try:
            blocks = self.follower.poll()
        except OSError as exc:
            self.note(f"error: {safe(str(exc))}")
            blocks = []
        engine = self.engine
        rows = engine.rows
        for name, data in blocks:
            reader = self._reader(name)
            for piece in _pieces(data):
                self.lines += reader.feed(piece)
        now = self.now()
        self.clock.observe(now, rows, engine)
        self.clock.tick(now, engine)
        events = engine.drain()
        if events:
            self.pending.extend(events)
        if blocks or events:
            self.dirty = True
        if blocks:
            self._data_at = now
        # The input went quiet (no data for a poll interval: not the empty poll
        # right after a read, which a steady writer gives every time, and
        # which made a busy service checkpoint 16 times a second).
        quiet = now - self._data_at >= self.settings.poll_interval
        since = now - self._last_commit
        if (self.pending and since >= self.settings.commit_every) or (
            self.dirty and (quiet or since >= self.settings.checkpoint_every)
        ):
            self.commit()
        elif blocks or now - self.view_at >= 0.5:
            self._update_view(self.follower.positions())
        if now - self._last_prune >= self.settings.prune_every and engine.max_ts >= 0:
            self._last_prune = now
            self.prune()
        return bool(blocks)

    def _reader(self, name: str) -> Reader:
        reader = self.readers.get(name)
        if reader is None:
            s = self.settings
            source = Source(name, io.BytesIO(), live=True)
            reader = make_reader(
                source, s.format, self.engine, self.note, self.on_invalid, engine_name=s.engine
            )
            saved = self._reader_state.pop(name, None)
            if saved is not None and isinstance(reader, SourceReader):
                fmt, lineno = saved
                if s.format == "auto":
                    reader.fmt_name = fmt
                reader.lineno = lineno
            self.readers[name] = reader
        return reader

    # ------------------------------------------------------------ commits

    def commit(self) -> None:
        """Events, outbox, firing alerts and checkpoint in one transaction; then publish."""
        s = self.settings
        events, self.pending = self.pending, []
        stored = [st for e in events if (st := ids.stored(e)) is not None]
        outbox: list[OutboxItem] = []
        for event in events:
            if isinstance(event, Alert):
                eid = ids.event_id(event)
                for receiver in s.receivers:
                    body = payload(receiver, event, s.severity, s.external_url)
                    outbox.append(OutboxItem(receiver.key, eid, body, event.ts + 1))
                update_firing(self.firing, event, s.severity, s.external_url)
        self.totals.add(events)
        positions = self.follower.positions()
        readers = dict(self._reader_state)
        readers.update({name: _reader_state(r) for name, r in self.readers.items()})
        checkpoint = {
            "version": CHECKPOINT_VERSION,
            "lines": self.lines,
            "positions": [p.to_json() for p in positions],
            "readers": readers,
            "engine": self.engine.snapshot(),
            "totals": self.totals.to_json(),
        }
        meta = {"checkpoint": _dumps(checkpoint)}
        if any(isinstance(e, Alert) for e in events):
            meta["firing"] = _dumps(self.firing)
        new = self.store.commit(stored, outbox, meta)
        self.checkpoints += 1
        self.dirty = False
        self._last_commit = self.now()
        self._update_view(positions)
        if new:
            self.publish(new)

    def prune(self) -> None:
        before = self.engine.max_ts - self.settings.retention
        while self.store.prune(before) > 0:
            pass

    def _update_view(self, positions: list[Position]) -> None:
        e = self.engine
        sources = tuple(
            SourceView(p.name, p.offset, p.size, p.role) for p in positions if p.role != "done"
        )
        read_all = all(p.read >= p.size for p in positions if p.role != "done")
        self.view = View(
            requests=dict(self.totals.requests),
            bytes=self.totals.bytes,
            sections=dict(self.totals.sections),
            alerts=dict(self.totals.alerts),
            lines={
                "record": e.records,
                "late": e.late,
                "invalid": e.invalid,
                "header": e.headers,
                "empty": e.empty,
            },
            log_time=e.max_ts if e.max_ts >= 0 else None,
            final=e.final if e.started else None,
            sources=sources,
            rules=tuple(rule.name for rule in e.rules),
            firing=tuple(
                (str(f["rule"]), str(f["group"]), int(f["since"])) for f in self.firing.values()
            ),
            caught_up=read_all and not self.dirty and not self.pending,
            idle=self.clock.idle(self.now()),
            checkpoints=self.checkpoints,
            committed_at=time.time() if not self.dirty else self.view.committed_at,
        )
        self.view_at = self.now()

    def reader_states(self) -> dict[str, tuple[str | None, int]]:
        out = dict(self._reader_state)
        out.update({name: _reader_state(r) for name, r in self.readers.items()})
        return out


FEED = 1 << 18
"""Bytes fed to a reader at a time (whole lines): blocks of a poll can be 4 MiB."""


def _pieces(data: bytes) -> list[bytes]:
    if len(data) <= FEED:
        return [data]
    out = []
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + FEED) + 1
        if end <= start:  # one line longer than FEED (cut to MAX_LINE by the source)
            end = data.find(b"\n", start + FEED) + 1 or len(data)
        out.append(data[start:end])
        start = end
    return out


def _reader_state(reader: Reader) -> tuple[str | None, int]:
    if isinstance(reader, SourceReader):
        return reader.fmt_name, reader.lineno
    return None, 0


def _replace_rules(settings: Settings, specs: tuple[RuleSpec, ...]) -> Settings:
    return replace(settings, rules=specs)


def _dumps(value: Any) -> str:
    """JSON text, by msgspec: a checkpoint of a busy service (minutes of recent
    records) took json 50 ms, all of it with the interpreter's lock held, and
    msgspec 7. A string it cannot write as UTF-8 (a lone surrogate) is
    escaped by json instead."""
    try:
        return msgspec.json.encode(value).decode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
