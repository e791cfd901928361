"""The engine's timeline: what is not final yet, made final in order (SPEC §2–4, §10).

`Timeline` holds the time model's state: the start of the timeline, the last
final second F, the largest timestamp read M, the hits of each second after
F, the counts of each interval not reported yet, the rules and the recent
records they read. As seconds become final, the rules take them and the
events come out in SPEC order: a second's alerts (in rule order), then the
report of the interval it ends; a run of empty intervals as one `Quiet`.

`Engine` (`engine/core.py`) is how records get in: one at a time, as
columns, or as the counts of a block-at-a-time engine. Pure: no I/O, no
wall clock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import accumulate, compress, islice, repeat
from operator import eq
from typing import Any

from hitwatch.engine.intervals import Interval, ReadyReport, ready_of
from hitwatch.engine.recent import Decode, Recent
from hitwatch.model import Alert, Event, Quiet, Report, Summary, empty_report
from hitwatch.rules import Rule


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


_BULK = 4096
"""Final seconds given to the rules at a time (bounds the lists they build)."""


class Timeline:
    """The time model's state and the events it emits. See SPEC §2.

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

    # --------------------------------------- ending, and the idle clock

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

    # ------------------------------------------------------------ state

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

    # ----------------------------------------------------------- output

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

    # ------------------------------------------------------ bookkeeping

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

    # ------------------------------------------ final seconds to events

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
