"""The accepted records of recent seconds, for the rules' `top` (SPEC §9).

The engine keeps the records of the last `keep` seconds of log time (the
longest rule window) besides the non-final ones, in the blocks they came in:
as columns from the Python parsers (no work per record), or as the native
kernel's record log (`bytes`, decoded only when asked). Rules ask for the
records of a window when an alert fires; a block is sorted by time the first
time a window reaches it, so that later windows take slices of it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from hitwatch.model import Column

Log = tuple[
    Sequence[int], Column, Column, Column, Column, Column | None, Sequence[float | None] | None
]
"""(ts, sections, hosts, methods, statuses, vhosts, durations): a record log,
decoded (vhosts and durations None for a format without them)."""

Records = tuple[Sequence[int], Column, Column, Column, Column, Column]
"""(ts, sections, hosts, methods, statuses, vhosts) of accepted records."""

Window = tuple[list[str], list[str], list[str], list[str], list[str]]
"""(sections, hosts, methods, statuses, vhosts) of the records of a window."""

Decode = Callable[[bytes], Log]


class _Sorted:
    """A block's records in timestamp order, for windows by bisection."""

    __slots__ = ("columns", "ts")

    def __init__(self, records: Records) -> None:
        ts = records[0]
        order = sorted(range(len(ts)), key=ts.__getitem__)
        self.ts = [ts[i] for i in order]
        self.columns = tuple([c[i] for i in order] for c in records[1:])

    def records(self) -> Records:
        return (self.ts, *self.columns)  # type: ignore[return-value]


class Recent:
    """Blocks of accepted records, each with bounds on its timestamps."""

    def __init__(self, keep: int, decode: Decode | None = None) -> None:
        self.keep = keep
        self.decode = decode  # for the kernel's record logs
        self._blocks: deque[tuple[int, int, Records | bytes | _Sorted]] = deque()

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
            self._blocks.append((min(ts), max(ts), (ts, sections, hosts, methods, statuses, vh)))

    def add_log(self, log: bytes, low: int, high: int) -> None:
        """A record log whose timestamps lie in [low, high]."""
        if log:
            self._blocks.append((low, high, log))

    def forget(self, final: int) -> None:
        """Drop what no window ending after the final second `final` reaches."""
        blocks = self._blocks
        while blocks and blocks[0][1] <= final - self.keep:
            blocks.popleft()

    def window(self, first: int, last: int) -> Window:
        """(sections, hosts, methods, statuses, vhosts) of the records with ts in [first, last]."""
        out: Window = ([], [], [], [], [])
        blocks = self._blocks
        for i, (low, high, data) in enumerate(blocks):
            if high < first or low > last:
                continue
            if not isinstance(data, _Sorted):
                data = _Sorted(self._records(data))
                blocks[i] = (low, high, data)  # sorted once, for every window after
            a, b = bisect_left(data.ts, first), bisect_right(data.ts, last)
            for whole, part in zip(out, data.columns, strict=True):
                whole.extend(part[a:b])
        return out

    def snapshot(self) -> list[list[Any]]:
        """The blocks as JSON values (record logs decoded)."""
        return [
            [low, high, [list(column) for column in self._records(data)]]
            for low, high, data in self._blocks
        ]

    def restore(self, blocks: list[list[Any]]) -> None:
        self._blocks = deque((int(low), int(high), tuple(columns)) for low, high, columns in blocks)

    def records(self, log: bytes) -> Records:
        """A record log's records (vhosts empty for a format without them)."""
        return self._records(log)

    def log_columns(self, log: bytes) -> Log:
        """A record log's columns, as the rules count them."""
        if self.decode is None:
            raise RuntimeError("a record log without a decoder")
        return self.decode(log)

    def _records(self, data: Records | bytes | _Sorted) -> Records:
        if isinstance(data, _Sorted):
            return data.records()
        if isinstance(data, bytes):
            if self.decode is None:
                raise RuntimeError("a record log without a decoder")
            ts, sections, hosts, methods, statuses, vhosts, _ = self.decode(data)
            vh = vhosts if vhosts is not None else [""] * len(ts)
            return (ts, sections, hosts, methods, statuses, vh)
        return data
