"""The service's state in SQLite under `--state DIR` (SPEC §11).

One database file, `DIR/hitwatch.db`, in WAL mode, so that readers (the HTTP
API, the notifiers) never wait for the writer (the ingestion thread):

- `events`: every event once by id, with its class, span and JSON; indexed by
  (class, start, seq) so that time ranges and their pages are index ranges.
- `meta`: the checkpoint (positions, engine state, readers, totals) and the
  alerts firing now, written in the same transaction as the events they
  follow, so a `kill -9` leaves either both or neither.
- `outbox`: one row per (receiver, alert event), written in that transaction
  too, delivered by `hitwatch.service.notify` and marked there.

Each thread has a connection of its own. `DIR/lock` is held (flock) while a
service uses the directory: a second one is refused, with a clear message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hitwatch.service.ids import Stored

DB_NAME = "hitwatch.db"
LOCK_NAME = "lock"
SCHEMA_VERSION = "1"
_OURS = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", LOCK_NAME}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    cls TEXT NOT NULL,
    kind TEXT NOT NULL,
    rule TEXT,
    t0 INTEGER NOT NULL,
    t1 INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (cls, t0, seq);
CREATE INDEX IF NOT EXISTS events_by_end ON events (t1);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    receiver TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    t1 INTEGER NOT NULL,
    UNIQUE (receiver, event_id)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (receiver, state, seq);
"""


class StateError(Exception):
    """The state directory cannot be used; the message is for the operator."""


@dataclass(frozen=True)
class OutboxItem:
    receiver: str
    event_id: str
    payload: str
    t1: int


@dataclass(frozen=True)
class Page:
    """Events of a time range: their JSON, and where the next page starts (or None)."""

    parts: list[bytes]  # a JSON array of the events' objects, in pieces
    next: tuple[int, int] | None

    @property
    def json(self) -> bytes:
        return b"".join(self.parts)


def prepare_directory(directory: str) -> bool:
    """Make `directory` ready for a store; True when it already holds one.

    It may be new, empty, or hold a store of ours; anything else is refused."""
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
        names = set(os.listdir(directory))
    except OSError as exc:
        raise StateError(f"{directory}: {exc.strerror or exc}") from None
    if names - _OURS:
        raise StateError(
            f"{directory}: not empty and not a hitwatch state directory "
            "(give a new or an empty directory)"
        )
    return DB_NAME in names


class Store:
    """See the module docstring. `close()` releases the lock."""

    def __init__(self, directory: str) -> None:
        existed = prepare_directory(directory)
        self.directory = directory
        self.path = os.path.join(directory, DB_NAME)
        self._lock_fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise StateError(f"{directory}: in use by another hitwatch serve") from None
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        try:
            db = self.conn()
            if existed:
                version = self._meta(db, "schema")
                if version != SCHEMA_VERSION:
                    raise StateError(f"{directory}: a state of another version ({version!r})")
            else:
                db.executescript(_SCHEMA)
                with db:
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StateError(f"{self.path}: {exc}") from None
        except BaseException:
            self.close()
            raise

    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against kill -9
            self._local.db = db
            with self._conns_lock:
                self._conns.append(db)
        return db

    def close(self) -> None:
        with self._conns_lock:
            for db in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            self._conns.clear()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # ------------------------------------------------------------ meta

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str) -> str | None:
        try:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return None if row is None else str(row[0])

    def get(self, key: str) -> Any:
        """A JSON value kept in `meta`, or None."""
        text = self._meta(self.conn(), key)
        return None if text is None else json.loads(text)

    # ---------------------------------------------------------- writing

    def commit(
        self,
        events: Sequence[Stored],
        outbox: Iterable[OutboxItem],
        meta: dict[str, str],
    ) -> list[tuple[int, Stored]]:
        """Write events, outbox rows and meta values (JSON text) in one
        transaction; the events that were new, with their sequence numbers."""
        db = self.conn()
        new: list[tuple[int, Stored]] = []
        with db:
            for ev in events:
                cur = db.execute(
                    "INSERT OR IGNORE INTO events (id, cls, kind, rule, t0, t1, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (ev.id, ev.cls, ev.kind, ev.rule, ev.t0, ev.t1, ev.body),
                )
                if cur.rowcount == 1 and cur.lastrowid is not None:
                    new.append((cur.lastrowid, ev))
            db.executemany(
                "INSERT OR IGNORE INTO outbox (receiver, event_id, payload, t1) "
                "VALUES (?, ?, ?, ?)",
                [(o.receiver, o.event_id, o.payload, o.t1) for o in outbox],
            )
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))
        return new

    def prune(self, before: int, batch: int = 5000) -> int:
        """Forget events (and delivered notifications) that ended at or before
        log time `before`; a batch at a time, so the writer is never held long."""
        db = self.conn()
        with db:
            n = db.execute(
                "DELETE FROM events WHERE seq IN "
                "(SELECT seq FROM events WHERE t1 <= ? ORDER BY t1 LIMIT ?)",
                (before, batch),
            ).rowcount
            db.execute("DELETE FROM outbox WHERE t1 <= ? AND state != 'pending'", (before,))
        return n

    # ---------------------------------------------------------- reading

    def page(
        self,
        cls: str,
        t_from: int,
        t_to: int,
        limit: int,
        after: tuple[int, int] | None = None,
        rule: str | None = None,
    ) -> Page:
        """Events of class `cls` starting in `[t_from, t_to)`, by start then
        sequence, after the cursor `after`. On the first page of reports also
        the report that started before `t_from` and lasts into it (reports are
        disjoint: only the last one before `t_from` can): a report is in a
        range when its span overlaps it.

        The page's JSON is joined by SQLite in one step: a row at a time, the
        sqlite3 module hands the GIL back at every row, and with the ingestion
        thread busy each row waited for it (a one-day query of 8,640 reports
        took seconds against a thread that never sleeps, 40 ms joined)."""
        where = "cls = ? AND t0 >= ? AND t0 < ?"
        args: list[object] = [cls, t_from, t_to]
        if after is not None:
            where += " AND (t0, seq) > (?, ?)"
            args += list(after)
        if rule is not None:
            where += " AND rule = ?"
            args.append(rule)
        ordered = f"FROM events WHERE {where} ORDER BY t0, seq"
        db = self.conn()
        db.execute("BEGIN")  # one snapshot for the page and its cursor
        try:
            joined, count = db.execute(
                "SELECT CAST(group_concat(body, ',') AS BLOB), count(*) "
                f"FROM (SELECT body {ordered} LIMIT ?)",
                [*args, limit],
            ).fetchone()
            nxt = None
            if count == limit:  # the last row of the page, and is there one more?
                edge = db.execute(
                    f"SELECT t0, seq {ordered} LIMIT 2 OFFSET ?", [*args, limit - 1]
                ).fetchall()
                if len(edge) == 2:
                    nxt = (int(edge[0][0]), int(edge[0][1]))
            before = None
            if after is None and cls == "report" and t_from < t_to:
                before = db.execute(
                    "SELECT t1, CAST(body AS BLOB) FROM events WHERE cls = ? AND t0 < ? "
                    "ORDER BY t0 DESC, seq DESC LIMIT 1",
                    (cls, t_from),
                ).fetchone()
        finally:
            db.execute("COMMIT")
        # In pieces: a copy of a page (MBs) costs more in page faults than in
        # copying, and the pieces go out as they are.
        parts = [b"["]
        if before is not None and int(before[0]) > t_from:
            parts += [bytes(before[1]), b","] if count else [bytes(before[1])]
        if count:
            parts.append(bytes(joined))
        parts.append(b"]")
        return Page(parts, nxt)

    def seq_of(self, event_id: str) -> int | None:
        row = self.conn().execute("SELECT seq FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else int(row[0])

    def frames_after(self, seq: int, limit: int) -> tuple[int, int, bytes]:
        """The events after `seq`, in emission order, as Server-Sent Events
        (`hub.sse_frame`'s): (how many, the last one's seq, the frames). Made
        by SQLite in one step, as `page`'s JSON is."""
        count, last, frames = (
            self.conn()
            .execute(
                "SELECT count(*), max(seq), CAST(group_concat("
                "'id: ' || id || char(10) || 'event: ' || kind || char(10) "
                "|| 'data: ' || body || char(10) || char(10), '') AS BLOB) "
                "FROM (SELECT seq, id, kind, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?)",
                (seq, limit),
            )
            .fetchone()
        )
        return int(count), int(last or seq), bytes(frames or b"")

    def last_seq(self) -> int:
        row = self.conn().execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def all_events(self) -> list[tuple[str, str]]:
        """(id, body) of every event kept, in emission order (tests, tools)."""
        rows = self.conn().execute("SELECT id, body FROM events ORDER BY seq")
        return [(str(i), str(b)) for i, b in rows]

    # ----------------------------------------------------------- outbox

    def pending(self, receiver: str, limit: int = 100) -> list[tuple[int, str, str]]:
        """(seq, event id, payload) of the notifications still to deliver, oldest first."""
        rows = self.conn().execute(
            "SELECT seq, event_id, payload FROM outbox "
            "WHERE receiver = ? AND state = 'pending' ORDER BY seq LIMIT ?",
            (receiver, limit),
        )
        return [(int(s), str(e), str(p)) for s, e, p in rows]

    def mark(self, seq: int, state: str, attempts: int) -> None:
        db = self.conn()
        with db:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = ? WHERE seq = ?", (state, attempts, seq)
            )

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        rows = self.conn().execute("SELECT receiver, state, COUNT(*) FROM outbox GROUP BY 1, 2")
        return {(str(r), str(s)): int(n) for r, s, n in rows}
