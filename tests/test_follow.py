"""--follow against real files in a temporary directory, driven poll by poll (no sleeps)."""

from __future__ import annotations

import io
import json
import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from hitwatch.engine.core import Engine
from hitwatch.live import FollowLoop
from hitwatch.outputs.jsonl import JsonlSink
from hitwatch.rules.rate_above import RateAbove
from hitwatch.sources.follow import Follower, LineCutter
from hitwatch.sources.since import since_offset


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt


def csv_line(ts: int, n: int = 0, path: str = "/api/user", host: str = "10.0.0.1") -> bytes:
    return f'"{host}","-","apache",{ts},"GET {path} HTTP/1.0",200,{100 + n}\n'.encode()


def lines(blocks: list[tuple[str, bytes]]) -> list[bytes]:
    return [line for _name, data in blocks for line in data.splitlines(keepends=True)]


def write(path: Path, data: bytes, mode: str = "ab") -> None:
    with open(path, mode) as fh:
        fh.write(data)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def follower(patterns: list[Path | str], clock: FakeClock, **kw: Any) -> Follower:
    return Follower([str(p) for p in patterns], clock=clock, **kw)


def test_append_and_partial_line(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "access.log"
    write(log, b"a\nb\n")
    f = follower([log], clock)
    assert lines(f.poll()) == [b"a\n", b"b\n"]
    assert f.poll() == []
    write(log, b"c\nhalf")
    assert lines(f.poll()) == [b"c\n"]
    assert f.poll() == []  # the half line waits for its end
    write(log, b" line\n")
    assert lines(f.poll()) == [b"half line\n"]
    f.close()


def test_rename_rotation_reads_old_file_to_its_end_then_new_one(
    tmp_path: Path, clock: FakeClock
) -> None:
    log = tmp_path / "access.log"
    write(log, b"1\n2\n")
    f = follower([log], clock, retire_after=5.0)
    assert lines(f.poll()) == [b"1\n", b"2\n"]
    write(log, b"3\n")  # written before the rotation, not read yet
    os.rename(log, tmp_path / "access.log.1")
    write(tmp_path / "access.log.1", b"4\n")  # the server still writes to the old file
    write(log, b"5\n")
    got = lines(f.poll())
    assert got == [b"3\n", b"4\n", b"5\n"]
    # Until the server reopens its log, it still writes to the old file.
    write(tmp_path / "access.log.1", b"6\n")
    assert lines(f.poll()) == [b"6\n"]
    assert f.open_files() == 2
    clock.t += 6
    assert f.poll() == []
    assert f.open_files() == 1  # the old file, quiet for retire_after, is closed
    write(log, b"7\n")
    assert lines(f.poll()) == [b"7\n"]
    f.close()


def test_copytruncate(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "access.log"
    write(log, b"1\n2\n3\n")
    f = follower([log], clock)
    assert len(lines(f.poll())) == 3
    shutil.copy(log, tmp_path / "access.log.1")
    write(log, b"", mode="wb")  # truncate in place
    write(log, b"4\n")
    assert lines(f.poll()) == [b"4\n"]
    write(log, b"5\n")
    assert lines(f.poll()) == [b"5\n"]
    f.close()


def test_delete_and_recreate(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "access.log"
    write(log, b"1\n2\n")
    f = follower([log], clock)
    assert len(lines(f.poll())) == 2
    log.unlink()
    assert f.poll() == []
    assert f.poll() == []
    write(log, b"3\n4\n5\n")
    assert lines(f.poll()) == [b"3\n", b"4\n", b"5\n"]
    f.close()


def test_glob_picks_up_new_files_and_never_rereads_a_rotated_one(
    tmp_path: Path, clock: FakeClock
) -> None:
    write(tmp_path / "a.log", b"a1\n")
    f = follower([tmp_path / "*.log*"], clock, rescan=1.0)
    assert lines(f.poll()) == [b"a1\n"]
    write(tmp_path / "b.log", b"b1\nb2\n")
    assert f.poll() == []  # globs are re-checked every `rescan` seconds
    clock.t += 1
    assert sorted(lines(f.poll())) == [b"b1\n", b"b2\n"]
    # Rotate a.log to a.log.1, which the glob also matches: it must not be read twice.
    os.rename(tmp_path / "a.log", tmp_path / "a.log.1")
    write(tmp_path / "a.log.1", b"a2\n")
    write(tmp_path / "a.log", b"a3\n")
    clock.t += 1
    got = lines(f.poll())
    clock.t += 10
    got += lines(f.poll())
    assert sorted(got) == [b"a2\n", b"a3\n"]
    clock.t += 10
    assert f.poll() == []
    f.close()


def test_start_at_end_skips_existing_content_and_a_partial_line(
    tmp_path: Path, clock: FakeClock
) -> None:
    log = tmp_path / "access.log"
    write(log, b"old\nold half")
    f = follower([log], clock, start="end")
    assert f.poll() == []
    write(log, b" still old\nnew\n")
    assert lines(f.poll()) == [b"new\n"]
    f.close()


def test_compressed_files_are_not_followed(tmp_path: Path, clock: FakeClock) -> None:
    import gzip

    write(tmp_path / "x.log.gz", gzip.compress(b"1\n"))
    notes: list[str] = []
    f = follower([tmp_path / "*.gz"], clock, note=notes.append)
    assert f.poll() == []
    assert any("compressed" in n for n in notes)
    f.close()


def test_line_cutter_bounds_an_overlong_line() -> None:
    cut = LineCutter()
    for _ in range(100):
        assert cut.push(b"x" * 10_000) == b""
        assert len(cut.carry) <= 64 * 1024 + 2
    out = cut.push(b"y\nz\n")
    assert out.endswith(b"y\nz\n") and len(out) < 70_000


def test_since_offset_finds_the_line_without_reading_everything(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    data = b"".join(csv_line(1_000_000 + i // 10, i) for i in range(20_000))  # 2000 s
    write(log, data)
    off = since_offset(str(log), 600, "auto")
    first = data[off:].split(b"\n", 1)[0]
    assert off == 0 or data[off - 1 : off] == b"\n"
    assert f",{1_000_000 + 1999 - 600}," in first.decode()
    assert data[:off].rstrip(b"\n").rsplit(b"\n", 1)[-1].decode().count(f",{1_001_398},") == 1
    assert since_offset(str(log), 10**9, "auto") == 0
    assert since_offset(str(log), 0, "csv") > 0


def run_follow(
    patterns: list[Path], clock: FakeClock, **kw: Any
) -> tuple[FollowLoop, io.StringIO, Follower]:
    out = io.StringIO()
    engine = Engine(
        interval=10,
        lateness=5,
        rules=[RateAbove("high_traffic", 120, Fraction(kw.pop("threshold", 10)))],
    )
    f = Follower([str(p) for p in patterns], clock=clock, rescan=0.0)
    loop = FollowLoop(
        f,
        "auto",
        engine,
        JsonlSink(out, quiet=False),
        lambda _t: None,
        lambda *_a: None,
        now=clock,
        sleep=clock.sleep,
    )
    return loop, out, f


def test_no_line_lost_or_counted_twice_across_everything(tmp_path: Path, clock: FakeClock) -> None:
    """Append, partial lines, rename rotation, copytruncate, delete+recreate, a new glob match."""
    log = tmp_path / "access.log"
    other = tmp_path / "other.log"
    ts = 1_549_573_860
    written = 0

    def add(path: Path, n: int, partial: bool = False) -> None:
        nonlocal written
        data = b"".join(csv_line(ts + written // 20 + i // 20, i) for i in range(n))
        written += n
        if partial:
            write(path, data[:-7])
            loop.step()
            write(path, data[-7:])
        else:
            write(path, data)

    write(log, b'"remotehost","rfc931","authuser","date","request","status","bytes"\n')
    loop, out, _f = run_follow([tmp_path / "*.log"], clock)
    loop.step()
    add(log, 50)
    loop.step()
    add(log, 30, partial=True)
    loop.step()
    os.rename(log, tmp_path / "access.log.1")  # rotated name no longer matches *.log
    add(tmp_path / "access.log.1", 5)
    add(log, 40)
    loop.step()
    shutil.copy(log, tmp_path / "copy")
    add(log, 3)
    loop.step()
    write(log, b"", mode="wb")  # copytruncate
    add(log, 25)
    loop.step()
    log.unlink()
    loop.step()
    add(log, 10)
    add(other, 17)
    for _ in range(3):
        clock.t += 3
        loop.step()
    loop.stop.request(0)
    loop.run()
    objs = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = objs[-1]
    assert summary["type"] == "summary"
    assert summary["records"] + summary["late"] == written
    assert summary["invalid"] == 0
    assert summary["lines"] == written + 1  # and the header


@pytest.mark.parametrize(
    ("start", "name", "offset"),
    [
        ("end", "a.log", 1234),
        (lambda _p, _s: 5000, "b\x1b.log", 1234),
        (lambda _p, _s: 10, "c.log", 10),
    ],
)
def test_say_start_notes_where_each_first_file_is_read_from(
    tmp_path: Path, clock: FakeClock, start: Any, name: str, offset: int
) -> None:
    log = tmp_path / name
    write(log, b"x" * 1233 + b"\n")
    said: list[str] = []
    f = follower([log], clock, start=start, note=said.append, say_start=True)
    f.poll()
    shown = str(log).replace("\x1b", "\\x1b")
    assert said == [f"{shown}: following from byte {offset:,} of 1,234"]
    # A file that appears later is read from its start, and says so as before.
    later = tmp_path / "later.log"
    f.patterns.append(str(later))
    f.poll()
    write(later, csv_line(1_700_000_000))
    f.poll()
    assert said[1:] == [f"{later}: appeared; reading it from its start"]


def test_without_say_start_nothing_is_noted(tmp_path: Path, clock: FakeClock) -> None:
    log = tmp_path / "a.log"
    write(log, b"x\n")
    said: list[str] = []
    follower([log], clock, start="end", note=said.append).poll()
    assert said == []
