"""What the configured rule kinds share (SPEC §9): matching, groups, windows, `for`, `top`.

A `WindowRule` counts the records its `match` selects, per final second and
per group key (one key, "", when it is not grouped), and keeps for each key a
sliding window of `(hits, errors)` over `(s − N, s]`. Its kind gives the
condition (`rate_above`, `rate_below`, `error_ratio_above`). Evaluation is
driven by events: a key is looked at in a second when its condition may
change then, and only then:
- `error_ratio_above` and `latency_above`: when it has hits, when hits leave
  its window, when a `for` delay ends;
- `rate_above` and `rate_below`, whose conditions move one way with the hits:
  when hits could flip it (more hits for a false `rate_above` or a true
  `rate_below`, checked against the untrimmed count first; the second at which
  enough hits will have left for the other state), when a `for` delay ends,
  and when `rate_below` starts to apply.
A busy key is then looked at about once a window, not every second. Pure:
the engine feeds the records (`count`) and the final seconds (`evaluate`).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from heapq import heappop, heappush
from itertools import compress, repeat
from operator import and_, itemgetter
from typing import Any

from hitwatch.config import RuleSpec
from hitwatch.model import OTHER, Alert, RuleStatus, Threshold, Top
from hitwatch.rules.keys import KeyState, nearest_rank
from hitwatch.rules.selection import Records, Selection, top_of

Condition = Callable[["WindowRule", KeyState, int], bool]


class WindowRule:
    """A configured rule; `condition(rule, key state, second)` is its kind's test."""

    counts = True

    @property
    def latency(self) -> bool:
        return self.kind == "latency_above"

    def __init__(self, spec: RuleSpec, condition: Condition) -> None:
        self.spec = spec
        self.name = spec.name
        self.kind = spec.kind
        self.window = spec.window
        self.threshold: Threshold = spec.threshold
        # Compared exactly, as rationals: hits > T*N  <=>  hits*den > num*N.
        self.den = spec.threshold.denominator
        self.num = spec.threshold.numerator
        self.limit = self.num * spec.window
        self.condition = condition
        self.select = Selection(spec)
        # Which way hits must move to turn a false condition true (see the module doc).
        self._rises_with_hits = spec.kind == "rate_above"
        self._rises_as_hits_leave = spec.kind == "rate_below"
        # A true rate_above or a false rate_below holds while its window has
        # more hits than this: hits*den > limit, or hits*den >= limit.
        self._keeps = (
            self.limit // self.den if self._rises_with_hits else -(-self.limit // self.den) - 1
        )
        self._pending: dict[int, dict[str, list[int]]] = {}  # non-final second -> key -> [h, e]
        self._keys: dict[str, KeyState] = {}  # tracked keys, in the order they came
        self._due: dict[int, set[str]] = {}  # second -> keys to look at then
        self._events: list[int] = []  # heap of the seconds in _pending or _due
        self._start: int | None = None  # the timeline's start, once seen
        self._final: int | None = None  # the last final second evaluated

    # ------------------------------------------------------------ counting

    @property
    def horizon(self) -> int:
        return self.window + self.spec.for_

    @property
    def closed(self) -> bool:
        """No key can be tracked any more (max_groups reached)."""
        return self.select.group is not None and len(self._keys) >= self.spec.max_groups

    def count(
        self,
        ts: Sequence[int],
        sections: Sequence[str],
        hosts: Sequence[str],
        methods: Sequence[str],
        statuses: Sequence[str],
        vhosts: Sequence[str] | None = None,
        durations: Sequence[float | None] | None = None,
    ) -> None:
        """Count accepted records (not late), in any order within what is not final."""
        columns = (sections, hosts, methods, statuses, vhosts or [""] * len(ts))
        if self.latency:
            self._count_durations(ts, columns, durations)
            return
        pick = self.select.pick(columns)
        keys: Iterable[str] | None = None
        if self.select.key_column is not None:
            keys = columns[self.select.key_column]
            if self.closed:  # records of keys not tracked count for nothing
                keep = list(map(self._keys.__contains__, keys))
                pick = keep if pick is None else list(map(and_, pick, keep))
        if pick is not None:
            ts = list(compress(ts, pick))
            statuses = list(compress(statuses, pick))
            if keys is not None:
                keys = list(compress(keys, pick))
        rows = list(zip(ts, keys if keys is not None else repeat(""), strict=False))
        hits = Counter(rows)
        errors: Counter[tuple[int, str]] | None = None
        if self.kind == "error_ratio_above":  # the only kind that counts errors
            errors = Counter(compress(rows, map(self.select.errors.__contains__, statuses)))
        pending = self._pending
        for (t, key), n in hits.items():
            got = pending.get(t)
            if got is None:
                got = pending[t] = {}
                heappush(self._events, t)
            slot = got.setdefault(key, [0, 0])
            slot[0] += n
            if errors:
                slot[1] += errors[t, key]

    def _count_durations(
        self,
        ts: Sequence[int],
        columns: Sequence[Sequence[str]],
        durations: Sequence[float | None] | None,
    ) -> None:
        """`count` for latency_above: the durations themselves, per second and key."""
        if durations is None:
            return  # records without durations do not count for it
        pick = self.select.pick(columns)
        keys = columns[self.select.key_column] if self.select.key_column is not None else None
        for i in range(len(ts)) if pick is None else compress(range(len(ts)), pick):
            d = durations[i]
            if d is None:
                continue
            key = "" if keys is None else keys[i]
            if keys is not None and self.closed and key not in self._keys:
                continue
            t = ts[i]
            slot = self._pending.get(t)
            if slot is None:
                slot = self._pending[t] = {}
                heappush(self._events, t)
            got = slot.setdefault(key, [0, 0])
            got[0] += 1
            got.append(d)  # type: ignore[arg-type]  # [hits, errs, durations...]

    # ---------------------------------------------------------- evaluating

    def evaluate(self, first: int, hits: Sequence[int], records: Records) -> list[Alert]:
        end = first + len(hits)
        if self._start is None:
            self._start = first
            if self.select.group is None:
                self._keys[""] = KeyState(first)
                self._schedule("", self._keys[""], first - 1)
        events = self._events
        alerts: list[Alert] = []
        while events and events[0] < end:
            s = heappop(events)
            while events and events[0] == s:
                heappop(events)
            alerts += self._second(s, records)
        self._final = end - 1
        return alerts

    def _second(self, s: int, records: Records) -> list[Alert]:
        incoming = self._pending.pop(s, None)
        look = self._due.pop(s, None)
        tracked = self._keys
        todo: Iterable[str] = look or ()
        if incoming is not None:
            room = self.spec.max_groups - len(tracked)
            if self.select.group is not None and room > 0:
                new = sorted(k for k in incoming if k not in tracked)
                for key in new[:room]:
                    tracked[key] = KeyState(s)
            todo = self._incoming(incoming, s, look)
        alerts: list[tuple[str, Alert]] = []
        for key in todo:
            state = tracked.get(key)
            if state is None:
                continue
            alert = self._look(key, state, s, records)
            if alert is not None:
                alerts.append((key, alert))
            self._schedule(key, state, s)
        if len(alerts) > 1:
            alerts.sort(key=itemgetter(0))  # SPEC §9: in order of key names
        return [alert for _, alert in alerts]

    def _incoming(
        self, incoming: dict[str, list[int]], s: int, look: set[str] | None
    ) -> Iterable[str]:
        """Add second `s`'s hits to the tracked keys' windows; the keys to look at."""
        tracked = self._keys
        todo: list[str] = []
        for key, got in incoming.items():
            state = tracked.get(key)
            if state is None:
                continue  # not tracked
            durations = tuple(got[2:]) if self.latency else ()
            state.window.append((s, got[0], got[1], durations))
            state.hits += got[0]
            state.errs += got[1]
            for d in durations:
                insort(state.durations, d)
            if self._rises_with_hits:
                if state.idle:
                    self._trim(state, s)
                    if state.hits * self.den <= self.limit:
                        continue  # still false: nothing to look at
                elif state.due is not None:
                    continue  # true, and more hits keep it true until it is due
            elif self._rises_as_hits_leave and state.idle and state.due is not None:
                continue  # false, and more hits keep it false until it is due
            todo.append(key)
        return set(todo).union(look) if look else todo

    def _trim(self, state: KeyState, s: int) -> None:
        """Take the seconds that have left the window `(s − N, s]` out of it."""
        window = state.window
        gone = s - self.window
        while window and window[0][0] <= gone:
            _, h, e, durations = window.popleft()
            state.hits -= h
            state.errs -= e
            for d in durations:
                del state.durations[bisect_left(state.durations, d)]

    def _flips_as_hits_leave(self, state: KeyState) -> int | None:
        """For `rate_above` true or `rate_below` false: the first second at which
        hits leaving the window, with none coming, would flip the condition.

        The state holds while the window keeps more than `_keeps` hits: the
        answer is when the oldest second leaves without which the newer ones
        keep no more. Counted from whichever end is nearer: a `rate_below`
        of a few hits a minute needs only the newest seconds of a busy key."""
        keeps = self._keeps
        window = state.window
        if 2 * keeps >= state.hits:
            hits = state.hits
            for t, h, *_ in window:
                hits -= h
                if hits <= keeps:
                    return t + self.window
            return None
        if keeps < 0:
            return None  # rate_below 0: nothing leaving makes it true
        newer = 0
        for t, h, *_ in reversed(window):
            newer += h
            if newer > keeps:
                return t + self.window
        return window[0][0] + self.window if window else None

    def _look(self, key: str, state: KeyState, s: int, records: Records) -> Alert | None:
        self._trim(state, s)
        if not self.condition(self, state, s):
            state.held_since = None
            if state.firing:
                state.firing = False
                return self._alert("resolved", key, state, s, state.since)
            return None
        if state.held_since is None:
            state.held_since = s
        if not state.firing and s - state.held_since >= self.spec.for_:
            state.firing = True
            state.since = s
            return self._alert("firing", key, state, s, None, self._top(key, s, records))
        return None

    def _schedule(self, key: str, state: KeyState, s: int) -> None:
        """When to look at `key` again if no hits come: the first second after
        `s` at which its condition or its `for` delay may change."""
        when = None
        if self._rises_with_hits or self._rises_as_hits_leave:
            # Only hits leaving can flip it the way more hits would not look at.
            if state.idle == self._rises_as_hits_leave:
                when = self._flips_as_hits_leave(state)
        elif state.window:
            when = state.window[0][0] + self.window  # hits leave
        if state.held_since is not None and not state.firing:
            end = state.held_since + self.spec.for_  # the delay ends
            if end > s and (when is None or end < when):
                when = end
        ready = state.first + self.window - 1  # rate_below applies from then
        if ready > s and (when is None or ready < when):
            when = ready
        state.due = when
        if when is not None:
            due = self._due.get(when)
            if due is None:
                due = self._due[when] = set()
                heappush(self._events, when)
            due.add(key)

    def _alert(
        self, state_name: str, key: str, state: KeyState, s: int, since: int | None,
        top: Top | None = None,
    ) -> Alert:  # fmt: skip
        group = None if self.select.group is None else (self.select.group, key)
        errors = state.errs if self.kind == "error_ratio_above" else None
        quantile = latency = None
        if self.latency:
            quantile = self.spec.quantile
            latency = nearest_rank(state.durations, quantile)
        return Alert(
            self.name, self.kind, state_name, s, state.hits, self.window, self.threshold,
            since, group, errors, top, quantile, latency,
        )  # fmt: skip

    def _top(self, key: str, s: int, records: Records) -> Top:
        return top_of(self.select, key, records.window(s - self.window + 1, s), self.kind)

    # ------------------------------------------------------------ the rest

    def firing(self) -> list[str]:
        group = self.select.group
        return [
            self.name if group is None else f"{self.name}{{{group}={key}}}"
            for key, state in sorted(self._keys.items())
            if state.firing
        ]

    def status(self) -> RuleStatus:
        firing = any(state.firing for state in self._keys.values())
        hits = max(map(self._hits_now, self._keys.values()), default=0)
        return RuleStatus(self.name, self.kind, hits, self.window, self.threshold, firing)

    def _hits_now(self, state: KeyState) -> int:
        """A key's hits in the window ending at the last final second (a key not
        looked at since holds seconds that have left)."""
        hits = state.hits
        if self._final is not None:
            gone = self._final - self.window
            for t, h, *_ in state.window:
                if t > gone:
                    break
                hits -= h
        return hits

    def snapshot(self) -> dict[str, Any]:
        return {
            "spec": spec_key(self.spec),
            "pending": [[t, keys] for t, keys in sorted(self._pending.items())],
            "keys": [[key, state.snapshot()] for key, state in self._keys.items()],
            "due": [[t, sorted(keys)] for t, keys in sorted(self._due.items())],
            "start": self._start,
            "final": self._final,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if state.get("spec") != spec_key(self.spec):
            return
        self._pending = {
            int(t): {k: list(v) for k, v in keys.items()} for t, keys in state["pending"]
        }
        self._keys = {key: KeyState.from_snapshot(value) for key, value in state["keys"]}
        self._due = {int(t): set(keys) for t, keys in state["due"]}
        for t in sorted(self._due, reverse=True):  # each key's first due second
            for key in self._due[t]:
                if key in self._keys:
                    self._keys[key].due = t
        self._events = sorted({*self._pending, *self._due})
        self._start = state["start"]
        self._final = state.get("final")


def spec_key(spec: RuleSpec) -> list[Any]:
    """What a saved state must have been made with to be taken back."""
    return [
        spec.kind, spec.window, str(spec.threshold), spec.for_,
        [[dim, list(values)] for dim, values in spec.match], spec.group_by,
        spec.max_groups, list(spec.errors), spec.min_hits, str(spec.quantile),
    ]  # fmt: skip


__all__ = ["OTHER", "Records", "WindowRule"]
