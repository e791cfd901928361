"""The Follower's positions (SPEC §11): taken between polls, resumed after a restart."""

from __future__ import annotations

import os
from pathlib import Path

from hitwatch.sources.follow import Follower
from hitwatch.sources.positions import Position


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def read_all(f: Follower) -> bytes:
    out = b""
    while blocks := f.poll():
        out += b"".join(data for _name, data in blocks)
    return out


def restart(f: Follower, paths: list[Path], clock: Clock) -> Follower:
    positions = f.positions()
    f.close()
    return Follower([str(p) for p in paths], clock=clock, resume=positions)


def test_the_offset_is_past_the_last_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"one\ntwo\nthr")
    f = Follower([str(log)], clock=Clock())
    assert read_all(f) == b"one\ntwo\n"
    (p,) = f.positions()
    st = log.stat()
    assert (p.name, p.dev, p.ino, p.offset, p.role) == (str(log), st.st_dev, st.st_ino, 8, "active")
    assert p.size == 11 and p.read == 11 and len(p.checksum) == 32
    assert Position.from_json(p.to_json()) == Position(*p.to_json())  # type: ignore[arg-type]
    f.close()


def test_resume_reads_on_from_the_offset_and_the_partial_line_again(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"one\ntwo\nthr")
    clock = Clock()
    f = Follower([str(log)], clock=clock)
    read_all(f)
    with log.open("ab") as fh:
        fh.write(b"ee\nfour\n")
    f = restart(f, [log], clock)
    assert read_all(f) == b"three\nfour\n"
    f.close()


def test_a_file_rotated_while_stopped_is_read_to_its_end_first(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"a1\na2\n")
    clock = Clock()
    f = Follower([str(log)], clock=clock)
    assert read_all(f) == b"a1\na2\n"
    positions = f.positions()
    f.close()
    with log.open("ab") as fh:
        fh.write(b"a3\n")
    os.rename(log, tmp_path / "access.log.1")
    log.write_bytes(b"b1\n")
    notes: list[str] = []
    f = Follower([str(log)], clock=clock, resume=positions, note=notes.append)
    assert f.poll() == [(str(log), b"a3\n"), (str(log), b"b1\n")]
    assert any("rotated to" in n and "access.log.1" in n for n in notes)
    assert read_all(f) == b""
    f.close()


def test_a_replaced_file_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old first line\nx\n")
    clock = Clock()
    f = Follower([str(log)], clock=clock)
    read_all(f)
    positions = f.positions()
    f.close()
    # The same inode, other content (as a copy over it, or an inode reused).
    with log.open("r+b") as fh:
        fh.write(b"new first line\ny\nz\n")
    f = Follower([str(log)], clock=clock, resume=positions)
    assert read_all(f) == b"new first line\ny\nz\n"
    f.close()


def test_a_file_gone_while_stopped_is_noted_and_the_new_one_read(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"a\n")
    clock = Clock()
    f = Follower([str(log)], clock=clock)
    read_all(f)
    positions = f.positions()
    f.close()
    log.unlink()
    (tmp_path / "other").write_bytes(b"keep the inode busy\n")
    log.write_bytes(b"fresh\n")
    notes: list[str] = []
    f = Follower([str(log)], clock=clock, resume=positions, note=notes.append)
    assert read_all(f) == b"fresh\n"
    f.close()


def test_truncated_while_stopped_reads_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"first\nsecond\n")
    clock = Clock()
    f = Follower([str(log)], clock=clock)
    read_all(f)
    positions = f.positions()
    f.close()
    os.truncate(log, 0)
    with log.open("ab") as fh:
        fh.write(b"again\n")
    f = Follower([str(log)], clock=clock, resume=positions)
    assert read_all(f) == b"again\n"
    f.close()


def test_done_files_are_never_read_twice_through_a_glob(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"a\n")
    clock = Clock()
    pattern = str(tmp_path / "access.log*")
    f = Follower([pattern], clock=clock, retire_after=1.0, rescan=0.0)
    assert read_all(f) == b"a\n"
    os.rename(log, tmp_path / "access.log.1")
    log.write_bytes(b"b\n")
    assert read_all(f) == b"b\n"
    clock.t += 5
    read_all(f)  # the rotated file went quiet: closed, remembered as done
    positions = f.positions()
    f.close()
    f = Follower([pattern], clock=clock, resume=positions, rescan=0.0)
    assert read_all(f) == b""
    f.close()
