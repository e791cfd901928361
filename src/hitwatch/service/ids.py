"""Events as the service keeps them: a stable id (SPEC §11), a time span, JSON.

- `stats:<start_ts>`, `quiet:<start_ts>`, `alert:<rule>:<key or ->:<state>:<ts>`;
  the key of a grouped rule is `name=value` pairs joined by `,`, each value
  percent-encoded, so an id is printable ASCII without spaces (it travels in
  an SSE `id:` line and in URLs; a section name comes from a hostile log).
- The JSON of an event is its jsonl line (SPEC §5) with `id` first; a run of
  empty intervals is one `quiet` object (SPEC §10), not a line per interval.
- The span `[t0, t1)` of an event is the log time it covers: an interval for
  reports and quiet runs, the one second `ts` for an alert.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import quote

from hitwatch.model import Alert, Event, Quiet, Report
from hitwatch.outputs.jsonl import encode, report_line
from hitwatch.render import iso_utc

REPORT = "report"
ALERT = "alert"
"""The two classes of stored events: what /api/v1/reports and /api/v1/alerts serve."""

Group = tuple[tuple[str, str], ...]
"""The group key of an alert of a grouped rule, as sorted (name, value) pairs."""


@dataclass(frozen=True)
class Stored:
    """One event as the store keeps it."""

    id: str
    cls: str  # REPORT or ALERT
    kind: str  # stats, quiet or alert
    rule: str | None
    t0: int
    t1: int
    body: str  # its JSON object, `id` first


def alert_group(alert: Alert) -> Group:
    """The group key of `alert`: ((dimension, key),), or () for an ungrouped rule."""
    return () if alert.group is None else (alert.group,)


def group_key(group: Group) -> str:
    """`section=%2Fapi`-style text of a group key, `-` for none (safe in ids)."""
    if not group:
        return "-"
    return ",".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in group)


def group_label(group: Group) -> str:
    """A group key as a metric label or a summary shows it: `section=/api`, "" for none."""
    return ",".join(f"{k}={v}" for k, v in group)


def event_id(event: Event) -> str:
    if isinstance(event, Report):
        return f"stats:{event.start_ts}"
    if isinstance(event, Quiet):
        return f"quiet:{event.start_ts}"
    if isinstance(event, Alert):
        key = group_key(alert_group(event))
        return f"alert:{quote(event.rule, safe='')}:{key}:{event.state}:{event.ts}"
    return "summary"


def fingerprint(rule: str, group: Group) -> str:
    """One stable fingerprint per rule and group key (16 hex digits, as Alertmanager's)."""
    text = "\0".join([rule, *(f"{k}={v}" for k, v in group)])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def quiet_line(q: Quiet) -> str:
    """SPEC §10's object for a run of empty intervals."""
    intervals = (q.end_ts - q.start_ts) // q.interval
    return (
        f'{{"type":"quiet","start_ts":{q.start_ts},"end_ts":{q.end_ts},'
        f'"intervals":{intervals},"start":"{iso_utc(q.start_ts)}","end":"{iso_utc(q.end_ts)}"}}'
    )


def with_id(event_id_: str, line: str) -> str:
    """A JSON object line with `"id"` put first."""
    return f'{{"id":{json.dumps(event_id_)},{line[1:]}'


def stored(event: Event) -> Stored | None:
    """How the store keeps `event` (None for a summary: a service never ends)."""
    eid = event_id(event)
    if isinstance(event, Report):
        return Stored(eid, REPORT, "stats", None, event.start_ts, event.end_ts,
                      with_id(eid, report_line(event)))  # fmt: skip
    if isinstance(event, Quiet):
        return Stored(eid, REPORT, "quiet", None, event.start_ts, event.end_ts,
                      with_id(eid, quiet_line(event)))  # fmt: skip
    if isinstance(event, Alert):
        line = next(iter(encode(event)))
        return Stored(eid, ALERT, "alert", event.rule, event.ts, event.ts + 1, with_id(eid, line))
    return None
