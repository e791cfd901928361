"""What a configured rule selects (SPEC §9): its `match`, group and errors,
compiled, and the `top` of a firing alert counted from the window's records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, repeat
from operator import and_, eq
from typing import Protocol

from hitwatch.config import RuleSpec
from hitwatch.model import Ranked, Top, status_class

Record = tuple[str, str, str, str]
"""(section, host, method, status) of an accepted record."""

TOP = 3
"""Names per dimension in a firing alert's `top`."""


class Records(Protocol):
    """The accepted records of recent seconds, which the engine keeps for `top`."""

    def window(
        self, first: int, last: int
    ) -> tuple[list[str], list[str], list[str], list[str], list[str], list[int] | None]:
        """(sections, hosts, methods, statuses, vhosts, weights) of the records with
        ts in [first, last]: row i stands for weights[i] records (one if None)."""
        ...


def statuses_of(values: Iterable[str]) -> frozenset[str]:
    """The three-digit statuses that `5xx` or `404` values name."""
    out: set[str] = set()
    for value in values:
        if value.endswith("xx"):
            out.update(str(n) for n in range(int(value[0]) * 100, int(value[0]) * 100 + 100))
        else:
            out.add(value)
    return frozenset(out)


_COLUMN = {"section": 0, "host": 1, "method": 2, "status": 3, "vhost": 4}


class Selection:
    """A rule's `match`, `group_by` and `errors`, compiled."""

    def __init__(self, spec: RuleSpec) -> None:
        self.match = [
            (_COLUMN[dim], statuses_of(values) if dim == "status" else frozenset(values))
            for dim, values in spec.match
        ]
        self.group = spec.group_by
        self.key_column = _COLUMN[spec.group_by] if spec.group_by else None
        self.errors = statuses_of(spec.errors)

    def pick(self, columns: Sequence[Sequence[str]], key: str | None = None) -> list[bool] | None:
        """Which records of these (section, host, method, status) columns the rule
        counts (for group `key` when given); None: all of them. C-level loops."""
        pick: list[bool] | None = None
        for col, accepted in self.match:
            keep = list(map(accepted.__contains__, columns[col]))
            pick = keep if pick is None else list(map(and_, pick, keep))
        if key is not None and self.key_column is not None:
            keep = list(map(eq, columns[self.key_column], repeat(key)))
            pick = keep if pick is None else list(map(and_, pick, keep))
        return pick


def top_of(
    select: Selection,
    key: str,
    window: tuple[
        Sequence[str],
        Sequence[str],
        Sequence[str],
        Sequence[str],
        Sequence[str],
        Sequence[int] | None,
    ],
    kind: str,
) -> Top:
    """SPEC §9's `top` of a firing: of the window's records (`Records.window`),
    those the rule counts for `key` (its error records for error_ratio_above)."""
    *columns, weights = window
    pick = select.pick(columns, key)
    if kind == "error_ratio_above":
        errors = list(map(select.errors.__contains__, columns[3]))
        pick = errors if pick is None else list(map(and_, pick, errors))

    def count(column: Sequence[str]) -> Counter[str]:
        values = column if pick is None else compress(column, pick)
        if weights is None:
            return Counter(values)
        counts: Counter[str] = Counter()
        for value, n in zip(
            values, weights if pick is None else compress(weights, pick), strict=True
        ):
            counts[value] += n
        return counts

    sections = count(columns[0])
    hosts = count(columns[1])
    classes: Counter[str] = Counter()
    for status, n in count(columns[3]).items():
        classes[status_class(status)] += n
    group = select.group
    return Top(
        None if group == "section" else rank(sections, TOP),
        None if group == "host" else rank(hosts, TOP),
        None if group == "status" else rank(classes, TOP),
        sum(classes.values()),
    )


def rank(counts: Mapping[str, int], limit: int) -> Ranked:
    """The `limit` largest counts, ties by name."""
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit])
