"""`--output jsonl`: one JSON object per event (SPEC §5). The byte-exact contract.

Each line is written with an f-string rather than a dict given to
`json.JSONEncoder`: the same bytes (tests/test_jsonl.py holds the line of every
event to `json.dumps` of its dict), at a fraction of the cost per report.
Strings go through json's own C escaping; ints and floats are formatted with
their `repr`, as json does for exact ints and finite floats, the only numbers
events hold. ISO times are ASCII digits and `-:TZ`, so they need no escaping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii as _string
from typing import Any, TextIO

from hitwatch.model import Alert, Event, Quiet, Ranked, Report, Summary, Top, empty_report
from hitwatch.render import iso_utc, number


def _object(items: Ranked) -> str:
    """`{"name":hits,...}`, keys as a dict of the pairs keeps them (the last count wins)."""
    return ",".join([f"{_string(name)}:{hits}" for name, hits in dict(items).items()])


def _ranked(items: Ranked) -> str:
    return ",".join([f'{{"name":{_string(name)},"hits":{hits}}}' for name, hits in items])


def report_line(r: Report) -> str:
    return (
        f'{{"type":"stats","start_ts":{r.start_ts},"end_ts":{r.end_ts},'
        f'"start":"{iso_utc(r.start_ts)}","end":"{iso_utc(r.end_ts)}",'
        f'"hits":{r.hits},"rate":{r.rate!r},"bytes":{r.bytes},'
        f'"status":{{{_object(r.status)}}},"methods":{{{_object(r.methods)}}},'
        f'"sections":[{_ranked(r.sections)}],"hosts":[{_ranked(r.hosts)}],'
        f'"errors":{r.errors!r},"late":{r.late},"invalid":{r.invalid}{_more(r)}}}'
    )


def _more(r: Report) -> str:
    """The keys of formats with virtual hosts or durations (nothing for the others)."""
    more = ""
    if r.vhosts:
        more += f',"vhosts":[{_ranked(r.vhosts)}]'
    if r.latency is not None:
        lat = r.latency
        more += (
            f',"latency":{{"p50":{lat.p50!r},"p95":{lat.p95!r},"p99":{lat.p99!r},'
            f'"max":{lat.max!r},"records":{lat.records}}}'
        )
    return more


def alert_line(a: Alert) -> str:
    more = [] if a.since_ts is None else [f'"since_ts":{a.since_ts}']
    more.append(f'"kind":{_string(a.kind)}')
    if a.group is not None:
        more.append(f'"group":{{{_string(a.group[0])}:{_string(a.group[1])}}}')
    if a.errors is not None:
        more.append(f'"errors":{a.errors},"ratio":{a.ratio!r}')
    if a.quantile is not None:
        latency = "null" if a.latency is None else repr(a.latency)
        more.append(f'"quantile":{number(a.quantile)!r},"latency":{latency}')
    if a.top is not None:
        more.append(f'"top":{{{top_object(a.top)}}}')
    return (
        f'{{"type":"alert","rule":{_string(a.rule)},"state":{_string(a.state)},'
        f'"ts":{a.ts},"at":"{iso_utc(a.ts)}","hits":{a.hits},"rate":{a.rate!r},'
        f'"threshold":{number(a.threshold)!r},"window":{a.window},{",".join(more)}}}'
    )


def top_object(top: Top) -> str:
    """`"sections":[...],"hosts":[...],"status":[...]`, the grouped dimension left out."""
    parts = (("sections", top.sections), ("hosts", top.hosts), ("status", top.status))
    return ",".join(f'"{name}":[{_ranked(items)}]' for name, items in parts if items is not None)


def quiet_line(start_ts: int, end_ts: int, intervals: int) -> str:
    """A run of intervals without any line (SPEC §10), in place of their stats."""
    return (
        f'{{"type":"quiet","start_ts":{start_ts},"end_ts":{end_ts},"intervals":{intervals},'
        f'"start":"{iso_utc(start_ts)}","end":"{iso_utc(end_ts)}"}}'
    )


def summary_line(s: Summary) -> str:
    if s.extra:
        # Extra keys may replace required ones in place: leave that to json.
        return json.dumps(summary_dict(s), ensure_ascii=True, separators=(",", ":"))
    first_ts, first = _time_or_null(s.first_ts)
    last_ts, last = _time_or_null(s.last_ts)
    return (
        f'{{"type":"summary","lines":{s.lines},"records":{s.records},'
        f'"invalid":{s.invalid},"late":{s.late},"first_ts":{first_ts},"last_ts":{last_ts},'
        f'"alerts":{s.alerts},"firing":[{",".join(map(_string, s.firing))}],'
        f'"headers":{s.headers},"empty":{s.empty},"first":{first},"last":{last},'
        f'"max_late":{s.max_late},"lateness":{s.lateness}}}'
    )


def _time_or_null(ts: int | None) -> tuple[str, str]:
    """A time as the summary shows it: seconds and an ISO string, or null twice."""
    return ("null", "null") if ts is None else (str(ts), f'"{iso_utc(ts)}"')


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
        yield report_line(event)
    elif isinstance(event, Quiet):
        yield from map(report_line, event.reports())
    elif isinstance(event, Alert):
        yield alert_line(event)
    else:
        yield summary_line(event)


class JsonlSink:
    """Writes the JSON lines of events. With `quiet` (finite input), a run of two
    or more intervals without any line is one `quiet` line (SPEC §10); live
    runs write every interval as it becomes final, so followers see time pass."""

    def __init__(self, out: TextIO, *, flush: bool = False, quiet: bool = True) -> None:
        self._out = out
        self._flush = flush
        self._quiet = quiet
        self._run: tuple[int, int, int] | None = None  # empty intervals: start, end, length

    def emit(self, events: list[Event]) -> None:
        # Lines are written in batches: a write per line costs a system call
        # each when stdout is unbuffered (PYTHONUNBUFFERED, `python -u`). The
        # batch is bounded: a Quiet event may stand for millions of lines.
        write = self._out.write
        batch: list[str] = []
        for line in self._lines(events):
            batch.append(line)
            if len(batch) >= 256:
                batch.append("")
                write("\n".join(batch))
                batch.clear()
        if batch:
            batch.append("")
            write("\n".join(batch))
        if self._flush and events:
            self._out.flush()

    def _lines(self, events: list[Event]) -> Iterator[str]:
        for event in events:
            if self._quiet and (
                isinstance(event, Quiet) or (isinstance(event, Report) and event.is_empty)
            ):
                length = (event.end_ts - event.start_ts) // (
                    event.interval if isinstance(event, Quiet) else event.end_ts - event.start_ts
                )
                run = self._run
                self._run = (
                    (event.start_ts, event.end_ts, length)
                    if run is None
                    else (run[0], event.end_ts, run[2] + length)
                )
                continue
            yield from self._end_run()
            yield from encode(event)

    def _end_run(self) -> Iterator[str]:
        run, self._run = self._run, None
        if run is None:
            return
        start, end, length = run
        yield report_line(empty_report(start, end)) if length == 1 else quiet_line(*run)

    def close(self, summary: Summary) -> None:
        self.emit([summary])
        self._out.flush()
