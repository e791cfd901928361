"""The counts of one interval while it is open, and the report made of them (SPEC §3)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import ge, itemgetter
from typing import Any

from hitwatch.model import (
    MAX_METHODS,
    OTHER,
    Ranked,
    Report,
    latency_of,
    status_class,
)

ReadyReport = tuple[int, int, Ranked, Ranked, Ranked, Ranked, int, int, int]
"""A complete interval, ranked by a block engine: the fields of its Report
after start_ts and end_ts."""

_count = itemgetter(1)


class Interval:
    """Counts of one interval while it is still open."""

    __slots__ = (
        "bytes",
        "durations",
        "hits",
        "hosts",
        "invalid",
        "late",
        "methods",
        "sections",
        "status",
        "vhosts",
    )

    def __init__(self) -> None:
        self.hits = 0
        self.bytes = 0
        self.sections: Counter[str] = Counter()
        self.hosts: Counter[str] = Counter()
        self.status: Counter[str] = Counter()  # as read ("404"), or classes (from absorb)
        self.methods: Counter[str] = Counter()
        self.vhosts: Counter[str] = Counter()
        self.durations: list[float] = []
        self.late = 0
        self.invalid = 0

    def add(
        self,
        hits: int,
        nbytes: Iterable[int],
        sections: Iterable[str],
        hosts: Iterable[str],
        statuses: Iterable[str],
        methods: Iterable[str],
        vhosts: Iterable[str] | None = None,
        durations: Iterable[float | None] | None = None,
    ) -> None:
        """Count `hits` accepted lines that all fall in this interval."""
        self.hits += hits
        self.bytes += sum(nbytes)
        self.sections.update(sections)
        self.hosts.update(hosts)
        self.status.update(statuses)
        self.methods.update(methods)
        if vhosts is not None:
            self.vhosts.update(vhosts)
        if durations is not None:
            self.durations.extend(d for d in durations if d is not None)

    def report(self, start: int, end: int, top: int) -> Report:
        hits = self.hits
        classes: Counter[str] = Counter()
        for status, n in self.status.items():
            classes[status_class(status)] += n
        methods = self.methods
        if len(methods) > MAX_METHODS:
            kept = dict(rank(methods, MAX_METHODS - 1))
            kept[OTHER] = kept.get(OTHER, 0) + hits - sum(kept.values())
            methods = Counter(kept)
        return Report(
            start_ts=start,
            end_ts=end,
            hits=hits,
            bytes=self.bytes,
            status=tuple(sorted(classes.items())),
            methods=rank(methods, MAX_METHODS),
            sections=rank(self.sections, top),
            hosts=rank(self.hosts, top),
            errors_5xx=classes.get("5xx", 0),
            late=self.late,
            invalid=self.invalid,
            vhosts=rank(self.vhosts, top),
            latency=latency_of(self.durations),
        )

    def snapshot(self) -> list[Any]:
        return [
            self.hits, self.bytes, self.late, self.invalid,
            dict(self.status), dict(self.sections), dict(self.hosts), dict(self.methods),
            dict(self.vhosts), self.durations,
        ]  # fmt: skip

    @classmethod
    def from_snapshot(cls, counts: Sequence[Any]) -> Interval:
        iv = cls()
        iv.hits, iv.bytes, iv.late, iv.invalid, status, sections, hosts, methods, vhosts, d = counts
        iv.status.update(status)
        iv.sections.update(sections)
        iv.hosts.update(hosts)
        iv.methods.update(methods)
        iv.vhosts.update(vhosts)
        iv.durations = list(d)
        return iv


def ready_of(value: Sequence[Any]) -> ReadyReport:
    """A ReadyReport back from JSON (lists where it had tuples)."""
    hits, nbytes, status, methods, sections, hosts, errors, late, invalid = value

    def ranked(items: Sequence[Sequence[Any]]) -> Ranked:
        return tuple((str(name), int(n)) for name, n in items)

    return (
        hits, nbytes, ranked(status), ranked(methods), ranked(sections), ranked(hosts),
        errors, late, invalid,
    )  # fmt: skip


def rank(counts: dict[str, int], limit: int) -> Ranked:
    """The `limit` largest counts, ties broken by name ascending."""
    if len(counts) > limit:
        if limit <= 0:
            return ()
        # Only names whose count reaches the limit-th largest can be listed:
        # sorting the counts (ints) first is cheaper than sorting every name.
        cut = sorted(counts.values(), reverse=True)[limit - 1]
        items = list(compress(counts.items(), map(ge, counts.values(), repeat(cut))))
    else:
        items = list(counts.items())
    # By name, then stably by count descending (reverse keeps ties in order).
    items.sort()
    items.sort(key=_count, reverse=True)
    return tuple(items[:limit])
