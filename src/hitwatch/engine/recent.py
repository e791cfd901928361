"""The accepted records of recent seconds, for the rules' `top` (SPEC §9).

The engine keeps the records of the last `keep` seconds of log time (the
longest rule window) besides the non-final ones, in the blocks they came in:
as columns from the Python parsers (no work per record), as the native
kernel's record log (`bytes`), or as a function that makes that log by
reading the block again (a regular file's). Rules ask for the records of a
window when an alert fires: the kernel decodes a log's records of the
window's seconds only (a log is a fifth of its records as Python objects);
a block of columns is sorted by time the first time a window reaches it, so
that later windows take slices of it.

A busy server puts many records in a window (200,000 a second fill two
minutes with 24 million), most of them alike. Once the blocks hold more than
`budget` bytes, and whenever a snapshot is taken, they are folded into a
tally: per second, each distinct (section, host, method, status, vhost) and
how many records had it. A window over the tally gives those keys with their
counts as weights, and `top` counts the same. Memory is then bounded by the
distinct records of a second, not by the traffic, and so is a snapshot.

A block spans far more seconds than a window: what no window can reach any
more (`forget`) is left out when a block is folded or sorted.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from heapq import heappop, heappush
from itertools import compress, islice
from operator import itemgetter
from typing import Any, Protocol

from hitwatch.model import Column

Log = tuple[
    Sequence[int], Column, Column, Column, Column, Column | None, Sequence[float | None] | None
]
"""(ts, sections, hosts, methods, statuses, vhosts, durations): a record log,
decoded (vhosts and durations None for a format without them)."""

Records = tuple[Sequence[int], Column, Column, Column, Column, Column]
"""(ts, sections, hosts, methods, statuses, vhosts) of accepted records."""

Window = tuple[list[str], list[str], list[str], list[str], list[str], list[int] | None]
"""(sections, hosts, methods, statuses, vhosts, weights) of the records of a
window: row i stands for weights[i] records (one each when weights is None)."""

LazyLog = bytes | Callable[[], bytes]
"""A record log, or a function that makes it (reads its block again)."""


class Decode(Protocol):
    """Decodes a record log: the records with ts in [first, last]."""

    def __call__(self, log: bytes, first: int = ..., last: int = ..., /) -> Log: ...


Tallied = tuple[
    Sequence[int], Sequence[str], Sequence[str], Sequence[str], Sequence[str], Sequence[str],
    Sequence[int],
]  # fmt: skip
"""(ts, sections, hosts, methods, statuses, vhosts, counts): a log's distinct records."""


class Tally(Protocol):
    """A record log's distinct records with ts in [first, last] and how many
    (rows that decode alike may come more than once: their counts add up)."""

    def __call__(self, log: bytes, first: int = ..., last: int = ..., /) -> Tallied: ...


Key = tuple[str, str, str, str, str]
"""(section, host, method, status, vhost) of a record, as the tally counts it."""

BUDGET = 16 << 20
"""Bytes of blocks kept as they came before they are folded into the tally."""

EARLIEST, LATEST = -(2**63), 2**63 - 1
"""The widest range of seconds a record log is decoded for (the kernel's int64)."""

RECORD_COST = 64
"""About what a decoded record costs in its block (list slots, small ints)."""

FOLD_SLICE = 16384
"""Records counted at a time when a block is folded (a few milliseconds)."""


class _Sorted:
    """A block's records in timestamp order, for windows by bisection."""

    __slots__ = ("columns", "ts")

    def __init__(self, records: Records) -> None:
        ts = records[0]
        order = sorted(range(len(ts)), key=ts.__getitem__)
        if len(order) > 1:
            reorder = itemgetter(*order)  # a C-level gather, for blocks of 100,000 records
            self.ts = list(reorder(ts))
            self.columns = tuple(list(reorder(c)) for c in records[1:])
        else:
            self.ts = list(ts)
            self.columns = tuple(list(c) for c in records[1:])

    def records(self) -> Records:
        return (self.ts, *self.columns)  # type: ignore[return-value]


class Recent:
    """Blocks of accepted records, each with bounds on its timestamps, and the
    tally of those folded (see the module docstring)."""

    def __init__(self, keep: int, decode: Decode | None = None, budget: int = BUDGET) -> None:
        self.keep = keep
        self.decode = decode  # for the kernel's record logs
        self.tally: Tally | None = None  # the same, folded by the kernel (the reader sets it)
        self.budget = budget
        self._blocks: deque[tuple[int, int, int, Records | LazyLog | _Sorted]] = deque()
        self._size = 0  # bytes the blocks hold, about
        self._tally: dict[int, Counter[Key]] = {}  # second -> key -> records
        self._seconds: list[int] = []  # heap of the tally's seconds
        self._old: int | None = None  # no window reaches this second or before
        self._final: int | None = None  # the last final second: no record joins it or before
        self._made: dict[int, list[Any]] = {}  # a final second -> its snapshot block

    def add(
        self,
        ts: Sequence[int],
        sections: Column,
        hosts: Column,
        methods: Column,
        statuses: Column,
        vhosts: Column | None = None,
    ) -> None:
        if ts:
            vh = vhosts if vhosts is not None else [""] * len(ts)
            records = (ts, sections, hosts, methods, statuses, vh)
            self._append(min(ts), max(ts), len(ts) * RECORD_COST, records)

    def add_log(self, log: LazyLog, low: int, high: int) -> None:
        """A record log whose timestamps lie in [low, high], or what makes it."""
        if isinstance(log, bytes):
            if log:
                self._append(low, high, len(log), log)
        else:
            self._append(low, high, RECORD_COST, log)

    def _append(self, low: int, high: int, size: int, data: Records | LazyLog) -> None:
        self._blocks.append((low, high, size, data))
        self._size += size
        if self._size > self.budget:
            self.fold()

    def fold(self) -> None:
        """Fold every block into the tally."""
        while self._blocks:
            low, _, size, data = self._blocks.popleft()
            self._size -= size
            reach = self._reach(low)
            if callable(data):
                data = data()  # a block read again
            if isinstance(data, bytes) and self.tally is not None:
                # A busy second's records are a few hundred distinct ones: the
                # kernel counts them, not an object per record here.
                first = EARLIEST if reach is None else reach + 1
                self._count(zip(*self.tally(data, first), strict=True))
                continue
            rows = zip(*self._records(data, reach), strict=True)
            # A slice at a time: one Counter call over a block holds the
            # interpreter's lock throughout (60 ms for a second of a busy
            # server), which a service's HTTP answers would wait for.
            while part := Counter(islice(rows, FOLD_SLICE)):
                self._count((*row, n) for row, n in part.items())

    def _count(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Add (ts, section, host, method, status, vhost, count) rows to the tally."""
        tally = self._tally
        for t, *key, n in rows:
            counts = tally.get(t)
            if counts is None:
                counts = tally[t] = Counter()
                heappush(self._seconds, t)
            counts[tuple(key)] += n

    def forget(self, final: int) -> None:
        """Drop what no window ending after the final second `final` reaches."""
        self._final = final
        old = self._old = final - self.keep
        blocks = self._blocks
        while blocks and blocks[0][1] <= old:
            self._size -= blocks.popleft()[2]
        seconds = self._seconds
        while seconds and seconds[0] <= old:
            t = heappop(seconds)
            del self._tally[t]
            self._made.pop(t, None)

    def window(self, first: int, last: int) -> Window:
        """The records with ts in [first, last] (see `Window`)."""
        columns: tuple[list[str], ...] = ([], [], [], [], [])
        blocks = self._blocks
        for i, (low, high, size, data) in enumerate(blocks):
            if high < first or low > last:
                continue
            if callable(data):  # a block read again, kept as its log for the windows after
                data = data()
                blocks[i] = (low, high, len(data), data)
                self._size += len(data) - size
            if isinstance(data, bytes):
                # The kernel decodes only the window's records: a log is a fifth
                # of its records as Python objects, which sorting would keep.
                _, *records = self._records(data, first - 1, last)
                parts: Sequence[Column] = records
            else:
                if not isinstance(data, _Sorted):
                    data = _Sorted(self._records(data, self._reach(low)))
                    blocks[i] = (low, high, size, data)  # sorted once, for every window after
                a, b = bisect_left(data.ts, first), bisect_right(data.ts, last)
                parts = [part[a:b] for part in data.columns]
            for whole, part in zip(columns, parts, strict=True):
                whole.extend(part)
        sections, hosts, methods, statuses, vhosts = columns
        weights: list[int] | None = None
        folded = [counts for t, counts in self._tally.items() if first <= t <= last]
        if folded:
            weights = [1] * len(sections)
            for counts in folded:
                for (section, host, method, status, vhost), n in counts.items():
                    sections.append(section)
                    hosts.append(host)
                    methods.append(method)
                    statuses.append(status)
                    vhosts.append(vhost)
                    weights.append(n)
        return sections, hosts, methods, statuses, vhosts, weights

    def snapshot(self) -> list[list[Any]]:
        """The tally as JSON values, every block folded into it first: for each
        second t in order, a block [t, t, [ts, sections, hosts, methods,
        statuses, vhosts, counts]]. No record joins a final second, so its
        block is made once and kept: a service checkpoints every second, and
        a busy one holds two minutes of seconds (making them all took a
        quarter of its time, with the interpreter's lock held)."""
        self.fold()
        made = self._made
        final = self._final
        out = []
        for t in sorted(self._tally):
            block = made.get(t)
            if block is None:
                counts = self._tally[t]
                keys = sorted(counts)
                columns = [list(column) for column in zip(*keys, strict=True)]
                block = [t, t, [[t] * len(keys), *columns, [counts[key] for key in keys]]]
                if final is not None and t <= final:
                    made[t] = block
            out.append(block)
        return out

    def restore(self, blocks: list[list[Any]]) -> None:
        """Take back a `snapshot` (blocks of six columns are records, of seven a tally)."""
        self._blocks.clear()
        self._size = 0
        self._tally.clear()
        self._seconds.clear()
        self._made.clear()
        for low, high, columns in blocks:
            if len(columns) == 7:
                rows = zip(*columns, strict=True)
                self._count((int(t), *key, int(n)) for t, *key, n in rows)
            else:
                ts, *rest = columns
                records = (ts, *rest)
                self._append(int(low), int(high), len(ts) * RECORD_COST, records)

    def log_columns(self, log: bytes) -> Log:
        """A record log's columns, as the rules count them."""
        if self.decode is None:
            raise RuntimeError("a record log without a decoder")
        return self.decode(log)

    def _reach(self, low: int) -> int | None:
        """For a block from second `low`: the last second no window reaches if
        the block has records of it (they are left out), else None."""
        return self._old if self._old is not None and low <= self._old else None

    def _records(
        self, data: Records | LazyLog | _Sorted, after: int | None = None, upto: int | None = None
    ) -> Records:
        """A block's records, those with ts after `after` when it is given (a
        block of the kernel spans far more seconds than a window); a record
        log's only up to `upto` when that is given too."""
        if isinstance(data, _Sorted):
            records = data.records()
            if after is None:
                return records
            a = bisect_right(data.ts, after)
            return tuple(column[a:] for column in records)  # type: ignore[return-value]
        if callable(data):
            data = data()  # a block read again
        if isinstance(data, bytes):
            if self.decode is None:
                raise RuntimeError("a record log without a decoder")
            first = EARLIEST if after is None else after + 1
            last = LATEST if upto is None else upto
            ts, sections, hosts, methods, statuses, vhosts, _ = self.decode(data, first, last)
            vh = vhosts if vhosts is not None else [""] * len(ts)
            return (ts, sections, hosts, methods, statuses, vh)
        if after is None:
            return data
        pick = list(map(after.__lt__, data[0]))
        return tuple(list(compress(column, pick)) for column in data)  # type: ignore[return-value]
