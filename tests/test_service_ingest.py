"""The ingestion thread's commits (service/ingest.py), stepped by hand with
a clock of the test's own."""

from __future__ import annotations

import json
from pathlib import Path

from hitwatch.service.ingest import Ingest, Settings, _dumps
from hitwatch.service.store import Store

LINE = '"10.0.0.1","-","u",1700000000,"GET /a/b HTTP/1.1",200,512\n'


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(tmp_path: Path) -> tuple[Ingest, Path, Clock]:
    log = tmp_path / "a.log"
    log.write_text("")
    clock = Clock()
    store = Store(str(tmp_path / "state"))
    ingest = Ingest(Settings((str(log),)), store, lambda _: None, lambda _: None, now=clock)
    ingest.load()
    return ingest, log, clock


def test_a_steady_writer_is_checkpointed_once_a_second(tmp_path: Path) -> None:
    """Each read is followed by an empty poll; that is not the input going
    quiet (it made a busy service checkpoint at every read, 16 times a second)."""
    ingest, log, clock = make(tmp_path)
    with log.open("a") as fh:
        for _ in range(250):  # 2.5 s of a line every 10 ms
            fh.write(LINE)
            fh.flush()
            assert ingest.step()
            clock.t += 0.001
            assert not ingest.step()  # right after the read: nothing new yet
            clock.t += 0.009
    assert ingest.checkpoints == 2  # one a second
    clock.t += 0.05  # a poll interval without data: caught up, committed
    ingest.step()
    assert ingest.checkpoints == 3 and not ingest.dirty
    assert ingest.store.get("checkpoint")["lines"] == 250


def test_checkpoints_write_any_text(tmp_path: Path) -> None:
    """msgspec writes them; a string it cannot encode (a lone surrogate)
    is escaped by json instead, and reads back the same."""
    for value in ({"a": [1, 2.5, None, "é"]}, {"a": "\ud800"}):
        assert json.loads(_dumps(value)) == value
