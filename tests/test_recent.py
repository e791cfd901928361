"""The recent records kept for `top` (engine/recent.py): what a block brings
back that no window can reach is left out of folds and windows."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from hitwatch import native
from hitwatch.engine.recent import Recent


def rows(ts: list[int]) -> tuple[list[int], list[str], list[str], list[str], list[str]]:
    n = len(ts)
    return ts, ["/a"] * n, [f"h{t % 3}" for t in ts], ["GET"] * n, ["200"] * n


def log_of(ts: list[int]) -> bytes:
    """A record log as the kernel writes it (see native.decode_records)."""
    out = b""
    for t in ts:
        out += struct.pack("<qHHII", t, 200, 3, 2, 2) + b"GET" + b"/a" + f"h{t % 3}".encode()
    return out


@pytest.mark.parametrize("as_log", [False, True], ids=["columns", "record log"])
def test_a_fold_keeps_only_what_a_window_can_reach(as_log: bool) -> None:
    recent = Recent(keep=10, decode=native.decode_records_full)
    ts = list(range(100, 200))
    if as_log:
        recent.add_log(log_of(ts), 100, 199)
    else:
        recent.add(*rows(ts))
    before = recent.window(190, 199)
    recent.forget(195)  # windows now start after 185
    assert recent.window(190, 199)[:5] == before[:5]
    recent.fold()
    blocks = recent.snapshot()
    assert [(low, high) for low, high, _ in blocks] == [(t, t) for t in range(186, 200)]
    assert [columns[0] for *_, columns in blocks] == [[t] for t in range(186, 200)]
    assert sum(columns[6][0] for *_, columns in blocks) == 14
    _, hosts, *_, weights = recent.window(186, 199)
    assert weights is not None and sum(weights) == 14
    assert sorted(hosts) == sorted(f"h{t % 3}" for t in range(186, 200))


def test_a_window_over_a_record_log_decodes_only_its_seconds() -> None:
    asked: list[tuple[int, ...]] = []

    def decode(log: bytes, *bounds: int) -> Any:
        asked.append(bounds)
        return native.decode_records_full(log, *bounds)

    recent = Recent(keep=5, decode=decode)
    recent.add_log(log_of(list(range(0, 1000))), 0, 999)
    recent.forget(900)
    assert recent.window(896, 900)[0] == ["/a"] * 5
    assert recent.window(897, 898)[1] == ["h0", "h1"]
    assert asked == [(896, 900), (897, 898)]


def test_a_block_read_again_is_read_once() -> None:
    reads: list[int] = []

    def again() -> bytes:
        reads.append(1)
        return log_of(list(range(100, 200)))

    recent = Recent(keep=10, decode=native.decode_records_full)
    recent.add_log(again, 100, 199)
    recent.forget(195)
    assert len(recent.window(190, 199)[0]) == 10
    assert len(recent.window(191, 199)[0]) == 9
    assert reads == [1]


def test_a_final_seconds_snapshot_is_made_once_and_restores_alike() -> None:
    """A service checkpoints every second: the blocks of final seconds, which
    no record can join, are kept from one snapshot to the next."""
    recent = Recent(keep=10)
    recent.add(*rows([100, 101, 101, 102]))
    recent.forget(101)  # 100 and 101 final; 102 may still get records
    first = recent.snapshot()
    assert [block[0] for block in first] == [100, 101, 102]
    assert first[1] == [101, 101, [[101], ["/a"], ["h2"], ["GET"], ["200"], [""], [2]]]
    recent.add(*rows([102, 103]))
    second = recent.snapshot()
    assert second[0] is first[0] and second[1] is first[1]  # made once
    assert second[2] is not first[2] and second[2][2][6] == [2]  # 102 got a record
    again = Recent(keep=10)
    again.restore(second)
    again.forget(101)
    assert again.snapshot() == second
    recent.forget(111)  # 101 leaves every window
    assert [block[0] for block in recent.snapshot()] == [102, 103]
