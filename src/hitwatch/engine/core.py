"""The reference engine: records in, events out (SPEC §2–4).

Pure: no I/O, no wall clock. Records arrive as `Row` tuples (or columns) in
reading order; the engine decides which are late, counts the others per
second and per interval and gives them to the rules, and makes seconds final
as the log's time advances: the `Timeline` it is (`engine/timeline.py`)
runs the rules over every final second and emits reports, alerts and a
summary.

A block-at-a-time engine (the native kernel, `hitwatch.readers.native`) does
the per-line part itself and hands over counts with `absorb`; everything per
second and per interval (rules, reports, their order) is the Timeline's, one
code path for both.

The per-record loop (`_feed_started`) is the hot path of the pure-Python
engine, so it works on plain tuples and local variables; everything per second
or per interval happens in ordinary, readable code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate, compress, islice, pairwise, repeat
from operator import add, eq, floordiv, le, ne
from typing import cast

from hitwatch.engine.intervals import Interval, ReadyReport
from hitwatch.engine.recent import LazyLog
from hitwatch.engine.timeline import Timeline
from hitwatch.model import STATUS_CLASSES, Column, FullRow, Row

TimeState = tuple[bool, int, int, int, int, int]
"""(started, start, final, max_ts, min_ts, invalid before start): see `Engine.time_state`."""


IntervalCounts = (
    tuple[
        int, int, int, int, int, Sequence[int],
        Mapping[str, int], Mapping[str, int], Mapping[str, int],
    ]
    | tuple[
        int, int, int, int, int, Sequence[int],
        Mapping[str, int], Mapping[str, int], Mapping[str, int],
        Mapping[str, int], Sequence[float],
    ]
)  # fmt: skip
"""(k, hits, bytes, late, invalid, hits by status class 1xx..5xx, sections, hosts, methods),
and for a format with them (vhosts, durations of the records that have one)."""


def _extras(iv: Interval, row: FullRow) -> None:
    """A FullRow's virtual host and duration, counted in its interval (a vhost
    of None: the format has none, as `feed_columns` makes such rows)."""
    if row[6] is not None:
        iv.vhosts[row[6]] += 1
    if row[7] is not None:
        iv.durations.append(row[7])


_PICK = 4
"""Intervals a block may span for its lines to be picked out per interval
(one pass over the block each); more are counted run by run."""


class Engine(Timeline):
    """The record-at-a-time engine: records in (`feed`, `feed_columns`, a
    block engine's counts with `absorb`), events out (`drain`, `summary`).
    The state and the events are the `Timeline`'s."""

    # ------------------------------------------------------------ input

    def feed(self, rows: Sequence[Row]) -> None:
        """Take accepted lines in reading order."""
        if self._ended:
            raise RuntimeError("engine already finished")
        self.rows += len(rows)
        i = 0
        n = len(rows)
        kept: list[Row] = []  # accepted, not yet given to the rules
        while not self.started and i < n:
            self._feed_unstarted(rows[i], kept)
            i += 1
        self._keep_rows(kept)
        if i < n:
            self._feed_started(rows if i == 0 else rows[i:])

    def feed_columns(
        self,
        ts: list[int],
        nbytes: list[int],
        sections: Column,
        hosts: Column,
        statuses: Column,
        methods: Column,
        vhosts: Column | None = None,
        durations: Sequence[float | None] | None = None,
    ) -> None:
        """Take accepted lines as columns; the same result as `feed(zip(...))`.
        `vhosts` and `durations` come with formats that have them (`Block.extras`).

        When no line of the batch is late, the lines are counted with C-level
        loops (Counter, map, accumulate) and the seconds made final once at the
        end: a record that is not late lands in a second that is not final yet,
        so emitting later changes no event. Otherwise, and with `batch=False`,
        it is the record-at-a-time loop.
        """
        if not ts:
            return
        lag = self._lag
        late = True
        if self.started and self.batch:
            low = min(ts)
            newest = max(self.max_ts, max(ts))
            # No line can be late when even the oldest is newer than the last
            # second that can become final during the batch; else check exactly.
            late = low <= self.final or (
                low <= newest - lag
                and any(
                    map(le, map(add, ts, repeat(lag)), accumulate(ts, max, initial=self.max_ts))
                )
            )
        if late:
            if vhosts is None and durations is None:
                self.feed(list(zip(ts, nbytes, sections, hosts, statuses, methods, strict=True)))
            else:
                # No vhost (None) for a format without: not counted as "".
                extra_v = vhosts if vhosts is not None else repeat(None)
                extra_d = durations if durations is not None else repeat(None)
                columns = (ts, nbytes, sections, hosts, statuses, methods, extra_v, extra_d)
                self.feed(list(zip(*columns, strict=False)))
            return
        if self._ended:
            raise RuntimeError("engine already finished")
        self.rows += len(ts)
        self._seconds.update(ts)
        ks = list(map(floordiv, ts, repeat(self.interval)))
        low_k, high_k = min(ks), max(ks)
        if low_k == high_k:
            self._interval(low_k).add(
                len(ts), nbytes, sections, hosts, statuses, methods, vhosts, durations
            )
        elif high_k - low_k <= _PICK:
            # A block spans a few intervals, its lines a little out of order:
            # each interval's lines picked out by C-level loops.
            for k in range(low_k, high_k + 1):
                pick = list(map(eq, ks, repeat(k)))
                hits = sum(pick)
                if hits:
                    self._interval(k).add(
                        hits,
                        compress(nbytes, pick),
                        compress(sections, pick),
                        compress(hosts, pick),
                        compress(statuses, pick),
                        compress(methods, pick),
                        None if vhosts is None else compress(vhosts, pick),
                        None if durations is None else compress(durations, pick),
                    )
        else:
            # Many intervals (a big block, a sparse log): each run of lines of one
            # interval at once.
            cuts = [0, *compress(range(1, len(ks)), map(ne, ks, islice(ks, 1, None))), len(ks)]
            for a, b in pairwise(cuts):
                self._interval(ks[a]).add(
                    b - a,
                    nbytes[a:b],
                    sections[a:b],
                    hosts[a:b],
                    statuses[a:b],
                    methods[a:b],
                    None if vhosts is None else vhosts[a:b],
                    None if durations is None else durations[a:b],
                )
        self._keep(ts, sections, hosts, methods, statuses, vhosts, durations)
        self.max_ts = newest
        if self.max_ts - lag > self.final:
            self._advance(self.max_ts - lag)

    def add_invalid(self, count: int = 1) -> None:
        """Count invalid lines read at this point of the input."""
        self.invalid += count
        if self.started:
            self._interval(self._open_k()).invalid += count
        else:
            self._invalid_before_start += count

    def add_skipped(self, headers: int = 0, empty: int = 0) -> None:
        self.headers += headers
        self.empty += empty

    # ------------------------------------------ block-at-a-time engines

    def time_state(self) -> TimeState:
        """What a block-at-a-time engine (hitwatch.native) carries on from:
        (started, start, F, M, smallest ts before the start, invalid lines read
        before the start). Read before every block: `advance_to` moves F."""
        return (
            self.started,
            self.start,
            self.final,
            self.max_ts,
            self._min_ts,
            self._invalid_before_start,
        )

    def holds_upto(self) -> int:
        """The largest k of an interval this engine holds counts of (-1 for none):
        a block-at-a-time engine may rank only complete intervals past it."""
        return max(self._intervals, default=-1)

    def absorb(
        self,
        state: TimeState,
        *,
        rows: int,
        late: int,
        invalid: int,
        max_late: int,
        seconds: Mapping[int, int],
        intervals: Iterable[IntervalCounts],
        ready: Mapping[int, ReadyReport] | None = None,
        records: LazyLog = b"",
    ) -> None:
        """Take a block that a block-at-a-time engine read (SPEC §3, its note).

        `state` is the time state after the block, computed record by record
        from `time_state()` with the rules of `feed`; `seconds` and `intervals`
        are the block's counts of accepted lines, late and invalid lines
        already attributed to their intervals. No count lands in a final
        second or a reported interval, so making the seconds final here, once
        per block, emits the same events as `feed` would have, line by line.

        `ready` holds complete intervals that the block engine ranked itself,
        exactly as `_emit_report` would (k past `holds_upto()`): their
        reports are made from them as they are.

        `records` is the block's log of accepted records (`Engine(decode=...)`
        reads it, vhosts and durations included), or a function that makes it
        again (a block of a regular file is read again only if a window needs
        it): the rules that count records get them, and `recent` keeps the
        log for their `top`.
        """
        if self._ended:
            raise RuntimeError("engine already finished")
        started, start, final, max_ts, min_ts, pending = state
        self.rows += rows
        self.late += late
        self.invalid += invalid
        self.max_late = max(self.max_late, max_late)
        self._seconds.update(seconds)
        for counts in intervals:
            k, hits, nbytes, late_k, invalid_k, status, sections, hosts, methods, *extra = counts
            iv = self._interval(k)
            iv.hits += hits
            iv.bytes += nbytes
            iv.late += late_k
            iv.invalid += invalid_k
            for name, n in zip(STATUS_CLASSES, status, strict=False):
                if n:
                    iv.status[name] += n
            iv.sections.update(sections)
            iv.hosts.update(hosts)
            iv.methods.update(methods)
            if extra:  # a format with them: vhosts, durations
                vhosts, durations = cast(tuple[Mapping[str, int], Sequence[float]], extra)
                iv.vhosts.update(vhosts)
                iv.durations.extend(durations)
        if ready:
            if not self._intervals.keys().isdisjoint(ready):
                raise RuntimeError("a ranked interval the engine holds counts of")
            self._ready.update(ready)
        if records:
            # Accepted records are newer than what was final before the block.
            low = self.final + 1 if self.started else 0
            if any(rule.counts for rule in self.rules):
                accepted = self.recent.log_columns(
                    records if isinstance(records, bytes) else records()
                )
                for rule in self.rules:
                    rule.count(*accepted)
                self.recent.add(*accepted[:6])
            else:
                self.recent.add_log(records, low, max_ts)
        self.max_ts = max_ts
        self._min_ts = min_ts
        self._invalid_before_start = pending
        if started and not self.started:
            self.started = True
            self.start = start
            self.final = start - 1
        if started and final > self.final:
            self._advance(final)

    # -------------------------------------------------------- hot paths

    def _feed_unstarted(self, row: Row, kept: list[Row]) -> None:
        ts = row[0]
        if self.max_ts < 0 or ts < self._min_ts:
            self._min_ts = ts
        if ts > self.max_ts:
            self.max_ts = ts
        self._count(row)
        kept.append(row)
        if self.max_ts - self._lag >= self._min_ts:
            self._keep_rows(kept)
            self._start(self._min_ts)
            self._advance(self.max_ts - self._lag)

    def _count(self, row: Row | FullRow) -> None:
        ts, nbytes, section, host, status, method = row[:6]
        self._seconds[ts] += 1
        iv = self._interval(ts // self.interval)
        iv.hits += 1
        iv.bytes += nbytes
        iv.sections[section] += 1
        iv.hosts[host] += 1
        iv.status[status] += 1
        iv.methods[method] += 1
        if len(row) > 6:
            _extras(iv, row)

    def _feed_started(self, rows: Sequence[Row]) -> None:
        # Locals only: this loop runs once per line of the log.
        lag = self._lag
        interval = self.interval
        m = self.max_ts
        f = self.final
        seconds = self._seconds
        intervals = self._intervals
        cur_k = -1
        cur = Interval()
        kept: list[Row] = []  # accepted, not yet given to the rules
        keep = kept.append
        extras = bool(rows) and len(rows[0]) > 6  # vhost and duration (FullRow)
        for row in rows:
            ts = row[0]
            if ts > m:
                m = ts
                if m - lag > f:
                    self.max_ts = m
                    self._keep_rows(kept)
                    self._advance(m - lag)
                    f = self.final
                    cur_k = -1  # its interval may have been reported and dropped
            elif ts <= f:
                self._late(ts, m)
                continue
            keep(row)
            seconds[ts] += 1
            k = ts // interval
            if k != cur_k:
                got = intervals.get(k)
                if got is None:
                    got = intervals[k] = Interval()
                cur = got
                cur_k = k
            cur.hits += 1
            cur.bytes += row[1]
            cur.sections[row[2]] += 1
            cur.hosts[row[3]] += 1
            cur.status[row[4]] += 1
            cur.methods[row[5]] += 1
            if extras:
                _extras(cur, row)  # type: ignore[arg-type]
        self._keep_rows(kept)
        self.max_ts = m

    def _keep(
        self,
        ts: Sequence[int],
        sections: Column,
        hosts: Column,
        methods: Column,
        statuses: Column,
        vhosts: Column | None = None,
        durations: Sequence[float | None] | None = None,
    ) -> None:
        """Accepted records to the rules, and to `recent` for their `top`."""
        for rule in self.rules:
            rule.count(ts, sections, hosts, methods, statuses, vhosts, durations)
        self.recent.add(ts, sections, hosts, methods, statuses, vhosts)

    def _keep_rows(self, rows: list[Row]) -> None:
        if rows:
            columns = list(zip(*rows, strict=True))
            ts, _nbytes, sections, hosts, statuses, methods = columns[:6]
            vhosts, durations = columns[6:] if len(columns) > 6 else (None, None)
            if vhosts and vhosts[0] is None:
                vhosts = None  # a format without vhosts (see feed_columns)
            self._keep(ts, sections, hosts, methods, statuses, vhosts, durations)
            rows.clear()
