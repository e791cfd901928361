"""The reference engine: records in, events out (SPEC §2–4).

Pure: no I/O, no wall clock. Records arrive as `Row` tuples (or columns) in
reading order; the engine decides which are late, keeps per-second hits and
per-interval counts, makes seconds final as the log's time advances, runs the
alert rules over every final second and emits reports, alerts and a summary.

A block-at-a-time engine (the native kernel, `hitwatch.readers.native`) does
the per-line part itself and hands over counts with `absorb`; everything per
second and per interval (rules, reports, their order) stays here, one code
path for both.

The per-record loop (`_feed_started`) is the hot path of the pure-Python
engine, so it works on plain tuples and local variables; everything per second
or per interval happens in ordinary, readable code.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate, compress, islice, pairwise, repeat
from operator import add, eq, floordiv, le, ne
from typing import Any, cast

from hitwatch.engine.intervals import Interval, ReadyReport, ready_of
from hitwatch.engine.recent import Decode, LazyLog, Recent
from hitwatch.model import (
    STATUS_CLASSES,
    Alert,
    Column,
    Event,
    FullRow,
    Quiet,
    Report,
    Row,
    Summary,
    empty_report,
)
from hitwatch.rules import Rule

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


def _alert_ts(alert: Alert) -> int:
    return alert.ts


def dense_run(hits: Sequence[int], settled: int, horizon: int) -> tuple[int, int]:
    """How many of these consecutive seconds the rules must take one by one,
    and the index of the last second with hits among them (-1 for none).

    Second j must be taken while j <= `settled` (the rules settle there from
    earlier hits) or some second in [j - horizon, j] has hits. With C-level
    loops: a replay has a final second for every second of log time.
    """
    n = len(hits)
    counts = list(accumulate(map(bool, hits), initial=0))  # seconds with hits before j
    lagged = [0] * min(n, horizon) + counts[: max(0, n - horizon)]  # the same before j - horizon
    begin = max(0, settled + 1)
    taken = next(
        compress(
            range(begin, n), map(eq, islice(counts, begin + 1, None), islice(lagged, begin, None))
        ),
        n,
    )
    total = counts[taken]
    return taken, (bisect_left(counts, total) - 1 if total else -1)


_PICK = 4
"""Intervals a block may span for its lines to be picked out per interval
(one pass over the block each); more are counted run by run."""

_BULK = 4096
"""Final seconds given to the rules at a time (bounds the lists they build)."""


class Engine:
    """The record-at-a-time engine. See SPEC §2 for the time model.

    `lateness` is L, `interval` is R. Seconds up to `M - L - 1` are final,
    where M is the largest timestamp read so far.
    """

    def __init__(
        self,
        *,
        interval: int = 10,
        lateness: int = 300,
        top: int = 5,
        rules: Sequence[Rule] = (),
        batch: bool = True,
        decode: Decode | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if lateness < 0:
            raise ValueError("lateness must not be negative")
        if top < 0:
            raise ValueError("top must not be negative")
        self.interval = interval
        self.lateness = lateness
        self.top = top
        self.rules = tuple(rules)
        self.batch = batch
        self._lag = lateness + 1  # s is final once s <= M - _lag

        self.started = False
        self.start = 0  # first second of the timeline, once started
        self.max_ts = -1  # M; -1 while no record was accepted
        self.final = -1  # F, the last final second, once started
        self._min_ts = 0  # smallest ts before the timeline started
        self._ended = False

        self._seconds: Counter[int] = Counter()  # non-final second -> hits
        self._intervals: dict[int, Interval] = {}  # k -> counts of [kR, kR + R)
        self._ready: dict[int, ReadyReport] = {}  # k -> a complete interval, ranked
        self._invalid_before_start = 0

        self.rows = 0  # rows fed, late ones included
        self.late = 0
        self.invalid = 0
        self.headers = 0
        self.empty = 0
        self.max_late = 0
        self.alerts = 0
        self._out: list[Event] = []
        # The rules settle a horizon after each second with hits (Rule.horizon):
        # past `_settled`, seconds without hits change nothing but reports.
        self._horizon = max((rule.horizon for rule in self.rules), default=0)
        self._settled = -1
        # The accepted records of the longest rule window, for `top`; `decode`
        # reads the record logs of a block-at-a-time engine (see `absorb`).
        self.recent = Recent(max((rule.window for rule in self.rules), default=0), decode)

    # ----------------------------------------------------------------- input

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

    # ------------------------------------------- block-at-a-time engines

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

    def finish(self) -> None:
        """End of input: every second up to M becomes final (SPEC §2)."""
        if self._ended:
            return
        self._ended = True
        if self.max_ts < 0:
            return
        if not self.started:
            self._start(self._min_ts)
        self._advance(self.max_ts)
        if (self.max_ts + 1) % self.interval:
            self._emit_report(self.max_ts // self.interval, self.max_ts + 1)

    def advance_to(self, second: int) -> None:
        """Make every second up to `second` final, as if log time had reached it.

        For live mode's idle clock (SPEC §8); does nothing before any record
        was read or for a second that is already final. When no second was
        final yet, the timeline starts (at the smallest ts read), as it would
        if a record had made the first second final.
        """
        if self._ended or self.max_ts < 0:
            return
        if not self.started:
            if second < self._min_ts:
                return
            self._start(self._min_ts)
        if second > self.final:
            self.max_ts = max(self.max_ts, second)
            self._advance(second)

    # ------------------------------------------------------------- state

    def snapshot(self) -> dict[str, Any]:
        """The engine's whole state as JSON values, between two inputs, events
        drained (a service's checkpoint, SPEC §11). `restore` takes it back."""
        if self._out:
            raise RuntimeError("snapshot with events not drained")
        return {
            "version": 1,
            "options": [self.interval, self.lateness, self.top],
            "time": [self.started, self.start, self.final, self.max_ts, self._min_ts],
            "invalid_before_start": self._invalid_before_start,
            "ended": self._ended,
            "settled": self._settled,
            "counts": [
                self.rows, self.late, self.invalid, self.headers, self.empty,
                self.max_late, self.alerts,
            ],
            "seconds": sorted(self._seconds.items()),
            "intervals": [[k, *iv.snapshot()] for k, iv in sorted(self._intervals.items())],
            "ready": sorted(self._ready.items()),
            "rules": {rule.name: rule.snapshot() for rule in self.rules},
            "recent": self.recent.snapshot(),
        }  # fmt: skip

    def restore(self, state: Mapping[str, Any]) -> None:
        """Go on from a `snapshot` of an engine with the same interval, lateness
        and top; a rule takes its state back when it is still configured alike
        (its snapshot says so), else it starts afresh."""
        if state.get("version") != 1:
            raise ValueError("an engine state of another version")
        if list(state["options"]) != [self.interval, self.lateness, self.top]:
            raise ValueError("an engine state of other --interval, --lateness or --top")
        self.started, self.start, self.final, self.max_ts, self._min_ts = state["time"]
        self._invalid_before_start = state["invalid_before_start"]
        self._ended = state["ended"]
        self._settled = state["settled"]
        (
            self.rows, self.late, self.invalid, self.headers, self.empty,
            self.max_late, self.alerts,
        ) = state["counts"]  # fmt: skip
        self._seconds = Counter(dict(map(tuple, state["seconds"])))
        self._intervals = {}
        for k, *counts in state["intervals"]:
            self._intervals[k] = Interval.from_snapshot(counts)
        self._ready = {k: ready_of(v) for k, v in state["ready"]}
        self.recent.restore(state["recent"])
        saved = state["rules"]
        for rule in self.rules:
            if rule.name in saved:
                rule.restore(saved[rule.name])
        self._out = []

    def drain(self) -> list[Event]:
        """The events emitted since the last call, in order."""
        out = self._out
        self._out = []
        return out

    @property
    def records(self) -> int:
        return self.rows - self.late

    @property
    def firing(self) -> tuple[str, ...]:
        return tuple(name for rule in self.rules for name in rule.firing())

    def summary(self, lines: int) -> Summary:
        """The closing totals; `lines` is what the reader counted, independently."""
        has = self.max_ts >= 0
        return Summary(
            lines=lines,
            records=self.records,
            invalid=self.invalid,
            late=self.late,
            headers=self.headers,
            empty=self.empty,
            first_ts=self.start if has else None,
            last_ts=self.max_ts if has else None,
            alerts=self.alerts,
            firing=self.firing,
            max_late=self.max_late,
            lateness=self.lateness,
        )

    # ------------------------------------------------------------ hot paths

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

    # --------------------------------------------------------- bookkeeping

    def _interval(self, k: int) -> Interval:
        iv = self._intervals.get(k)
        if iv is None:
            iv = self._intervals[k] = Interval()
        return iv

    def _open_k(self) -> int:
        """The interval whose report a late or invalid line read now belongs to (SPEC §3)."""
        return (self.final + 1) // self.interval

    def _late(self, ts: int, m: int) -> None:
        self.late += 1
        behind = m - ts
        if behind > self.max_late:
            self.max_late = behind
        self._interval(self._open_k()).late += 1

    def _start(self, start: int) -> None:
        self.started = True
        self.start = start
        self.final = start - 1
        if self._invalid_before_start:
            self._interval(start // self.interval).invalid += self._invalid_before_start
            self._invalid_before_start = 0

    def _advance(self, target: int) -> None:
        """Make the seconds `final + 1 .. target` final, emitting events in order.

        The rules take the seconds in dense runs, which go on for a rule
        horizon past each second with hits; the empty stretches between runs,
        where no rule can change, are only reported (one Quiet for a long one).
        """
        seconds = self._seconds  # every key is after `final`
        s = self.final + 1
        while s <= target:
            if s > self._settled and not seconds.get(s):
                stop = min(min(seconds, default=target + 1), target + 1)
                self._emit_span(s, stop)
                s = stop
                continue
            end = min(target + 1, s + (_BULK if self.batch else 1))
            hits = list(map(seconds.get, range(s, end), repeat(0)))
            n, last_hit = dense_run(hits, self._settled - s, self._horizon)
            if last_hit >= 0:
                self._settled = max(self._settled, s + last_hit + self._horizon)
            for _ in map(seconds.pop, range(s, s + n), repeat(0)):
                pass
            del hits[n:]
            self._run_rules(s, hits)
            s += n
        self.final = max(self.final, target)
        self.recent.forget(self.final)

    def _run_rules(self, first: int, hits: list[int]) -> None:
        """The rules over the final seconds `first ..` with these hits, and the
        reports of the intervals that end among them, in SPEC order: a second's
        alerts (in rule order), then the report of the interval it ends."""
        recent = self.recent
        if len(self.rules) == 1:
            alerts = self.rules[0].evaluate(first, hits, recent)
        else:
            alerts = [a for rule in self.rules for a in rule.evaluate(first, hits, recent)]
            alerts.sort(key=_alert_ts)  # stable: rule order within a second
        interval = self.interval
        pending = iter(alerts)
        alert = next(pending, None)
        stop = first + len(hits)
        for last in range(first + interval - 1 - first % interval, stop, interval):
            while alert is not None and alert.ts <= last:
                self._alert(alert)
                alert = next(pending, None)
            self._emit_report(last // interval, last + 1)
        while alert is not None:
            self._alert(alert)
            alert = next(pending, None)

    def _alert(self, alert: Alert) -> None:
        if alert.state == "firing":
            self.alerts += 1
        self._out.append(alert)

    def _emit_span(self, s: int, stop: int) -> None:
        """Emit the reports of intervals ending in the hit-free seconds `[s, stop)`."""
        interval = self.interval
        first_k = s // interval
        last_k = stop // interval - 1  # last interval whose end is <= stop
        k = first_k
        while k <= last_k:
            if k in self._intervals or k in self._ready or k * interval < self.start:
                self._emit_report(k, (k + 1) * interval)
                k += 1
                continue
            busy = [j for j in (*self._intervals, *self._ready) if k < j <= last_k]
            run_end = min(busy, default=last_k + 1)
            self._out.append(Quiet(k * interval, run_end * interval, interval))
            k = run_end

    def _emit_report(self, k: int, end: int) -> None:
        interval = self.interval
        start = max(k * interval, self.start)
        if self._ready:
            ready = self._ready.pop(k, None)
            if ready is not None:
                self._out.append(Report(start, end, *ready))
                return
        iv = self._intervals.pop(k, None)
        if iv is None:
            self._out.append(empty_report(start, end))
            return
        self._out.append(iv.report(start, end, self.top))
