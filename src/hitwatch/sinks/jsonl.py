"""`--output jsonl`: one JSON object per event (SPEC §5). The byte-exact contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

from hitwatch.engine.events import Alert, Event, Quiet, Ranked, Report, Summary
from hitwatch.sinks.base import iso_utc, number

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _ranked(items: Ranked) -> list[dict[str, Any]]:
    return [{"name": name, "hits": hits} for name, hits in items]


def report_dict(r: Report) -> dict[str, Any]:
    return {
        "type": "stats",
        "start_ts": r.start_ts,
        "end_ts": r.end_ts,
        "start": iso_utc(r.start_ts),
        "end": iso_utc(r.end_ts),
        "hits": r.hits,
        "rate": r.rate,
        "bytes": r.bytes,
        "status": dict(r.status),
        "methods": dict(r.methods),
        "sections": _ranked(r.sections),
        "hosts": _ranked(r.hosts),
        "errors": r.errors,
        "late": r.late,
        "invalid": r.invalid,
    }


def alert_dict(a: Alert) -> dict[str, Any]:
    d: dict[str, Any] = {
        "type": "alert",
        "rule": a.rule,
        "state": a.state,
        "ts": a.ts,
        "at": iso_utc(a.ts),
        "hits": a.hits,
        "rate": a.rate,
        "threshold": number(a.threshold),
        "window": a.window,
    }
    if a.since_ts is not None:
        d["since_ts"] = a.since_ts
    return d


def summary_dict(s: Summary) -> dict[str, Any]:
    return {
        "type": "summary",
        "lines": s.lines,
        "records": s.records,
        "invalid": s.invalid,
        "late": s.late,
        "first_ts": s.first_ts,
        "last_ts": s.last_ts,
        "alerts": s.alerts,
        "firing": list(s.firing),
        "headers": s.headers,
        "empty": s.empty,
        "first": iso_utc(s.first_ts) if s.first_ts is not None else None,
        "last": iso_utc(s.last_ts) if s.last_ts is not None else None,
        "max_late": s.max_late,
        "lateness": s.lateness,
        **s.extra,
    }


def encode(event: Event) -> Iterator[str]:
    """The JSON lines of one event; a Quiet run gives one line per interval, lazily,
    since a long gap in a log may hold millions of them."""
    if isinstance(event, Report):
        yield _dumps(report_dict(event))
    elif isinstance(event, Quiet):
        for r in event.reports():
            yield _dumps(report_dict(r))
    elif isinstance(event, Alert):
        yield _dumps(alert_dict(event))
    else:
        yield _dumps(summary_dict(event))


class JsonlSink:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def emit(self, events: list[Event]) -> None:
        write = self._out.write
        for event in events:
            for line in encode(event):
                write(line + "\n")

    def close(self, summary: Summary) -> None:
        self.emit([summary])
        self._out.flush()
