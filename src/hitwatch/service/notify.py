"""Notifications: Alertmanager-style payloads, and their delivery from the outbox.

The ingestion thread writes one outbox row per (receiver, alert event) in the
transaction that stores the event; a `Sender` thread per receiver delivers
them in order with httpx. So a dead receiver never slows ingestion, and a
restart loses none (a row is marked sent only after the receiver's 2xx).

- `--notify URL`: an Alertmanager webhook payload (version "4"), one alert each.
- `--alertmanager URL`: a list of alerts POSTed to `URL/api/v2/alerts`; the
  alerts firing now are sent again every `resend` seconds (Alertmanager drops
  an alert not renewed within its resolve_timeout), a resolved one with `endsAt`.

5xx, 408, 429, timeouts and refused connections are retried with exponential
backoff (the head of a receiver's queue waits: firing comes before resolved);
any other answer that is not 2xx gives up on that notification, with one line.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from hitwatch import rules
from hitwatch.model import Alert
from hitwatch.render import iso_utc, safe
from hitwatch.service.ids import alert_group, event_id, fingerprint, group_label
from hitwatch.service.store import Store

WEBHOOK = "webhook"
ALERTMANAGER = "alertmanager"
NEVER = "0001-01-01T00:00:00Z"
"""Alertmanager's `endsAt` of an alert that has not ended."""


@dataclass(frozen=True)
class Receiver:
    kind: str  # WEBHOOK or ALERTMANAGER
    url: str  # where to POST

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.url}"

    @classmethod
    def alertmanager(cls, base: str) -> Receiver:
        base = base.rstrip("/")
        if not base.endswith("/api/v2/alerts"):
            base += "/api/v2/alerts"
        return cls(ALERTMANAGER, base)


def _summary(alert: Alert) -> str:
    """The alert's text line (SPEC §4, §9)."""
    return rules.text_line(alert, iso_utc)


def _top_line(alert: Alert) -> str:
    """The alert's `top:` line (SPEC §9), or "" when it has none (resolved alerts)."""
    line = rules.top_line(alert)
    return "" if line is None else line.strip()


def labels(alert: Alert, severity: str) -> dict[str, str]:
    out = {"alertname": alert.rule}
    for k, v in alert_group(alert):
        out[k] = v
    out["severity"] = severity
    return out


def am_alert(alert: Alert, severity: str, external_url: str) -> dict[str, Any]:
    """The alert as Alertmanager's /api/v2/alerts takes it (log times, RFC 3339)."""
    annotations = {"summary": _summary(alert)}
    if top := _top_line(alert):
        annotations["description"] = top
    out: dict[str, Any] = {
        "labels": labels(alert, severity),
        "annotations": annotations,
        "generatorURL": f"{external_url}/api/v1/alerts?rule={alert.rule}",
    }
    if alert.state == "firing":
        out["startsAt"] = iso_utc(alert.ts)
    else:
        out["startsAt"] = iso_utc(alert.since_ts if alert.since_ts is not None else alert.ts)
        out["endsAt"] = iso_utc(alert.ts)
    return out


def webhook_payload(alert: Alert, severity: str, external_url: str) -> dict[str, Any]:
    """Alertmanager's webhook payload, version "4", for one alert event."""
    one = am_alert(alert, severity, external_url)
    group = alert_group(alert)
    one["status"] = alert.state
    one.setdefault("endsAt", NEVER)
    one["fingerprint"] = fingerprint(alert.rule, group)
    group_labels = {"alertname": alert.rule, **dict(group)}
    key = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(group_labels.items()))
    return {
        "version": "4",
        "groupKey": f"{{}}:{{{key}}}",
        "truncatedAlerts": 0,
        "status": alert.state,
        "receiver": "hitwatch",
        "groupLabels": group_labels,
        "commonLabels": one["labels"],
        "commonAnnotations": one["annotations"],
        "externalURL": external_url,
        "alerts": [one],
    }


def payload(receiver: Receiver, alert: Alert, severity: str, external_url: str) -> str:
    if receiver.kind == ALERTMANAGER:
        return json.dumps([am_alert(alert, severity, external_url)], separators=(",", ":"))
    return json.dumps(webhook_payload(alert, severity, external_url), separators=(",", ":"))


def update_firing(firing: dict[str, Any], alert: Alert, severity: str, external_url: str) -> None:
    """Keep `firing` (fingerprint -> {rule, group, since, alert}) up to date with `alert`."""
    group = alert_group(alert)
    fp = fingerprint(alert.rule, group)
    if alert.state == "firing":
        firing[fp] = {
            "rule": alert.rule,
            "group": group_label(group),
            "since": alert.ts,
            "id": event_id(alert),
            "alert": am_alert(alert, severity, external_url),
        }
    else:
        firing.pop(fp, None)


class Counts:
    """Deliveries by (receiver, outcome), for /metrics; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, receiver: str, outcome: str) -> None:
        with self._lock:
            key = (receiver, outcome)
            self._counts[key] = self._counts.get(key, 0) + 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)


OK, RETRY, GIVE_UP = "ok", "retry", "give up"


class Sender(threading.Thread):
    """Delivers one receiver's outbox, in order, until `stop` is set."""

    def __init__(
        self,
        store: Store,
        receiver: Receiver,
        *,
        stop: threading.Event,
        note: Callable[[str], None],
        counts: Counts,
        firing: Callable[[], list[dict[str, Any]]],
        retry_initial: float = 0.5,
        retry_max: float = 60.0,
        resend: float = 60.0,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(name=f"hitwatch-notify-{receiver.kind}", daemon=True)
        self.store = store
        self.receiver = receiver
        self.stop = stop
        self.note = note
        self.counts = counts
        self.firing = firing
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.resend = resend
        self.timeout = timeout
        self._wake = threading.Event()
        self._delay = retry_initial
        self._attempts = 0
        self._failing = False
        self._next_resend = 0.0

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self.stop.is_set():
                try:
                    self._round(client)
                except Exception as exc:  # the store, most likely: say it, wait, go on
                    self.note(f"notify {safe(self.receiver.url)}: {safe(str(exc))}")
                    self._sleep(self.retry_max)

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(max(0.0, seconds))
        self._wake.clear()

    def _round(self, client: httpx.Client) -> None:
        if self.receiver.kind == ALERTMANAGER and time.monotonic() >= self._next_resend:
            self._next_resend = time.monotonic() + self.resend
            alerts = [entry["alert"] for entry in self.firing()]
            if alerts:
                self._post(client, json.dumps(alerts, separators=(",", ":")))
        items = self.store.pending(self.receiver.key, 50)
        if not items:
            wait = self.resend if self.receiver.kind == ALERTMANAGER else 3600.0
            if self.receiver.kind == ALERTMANAGER:
                wait = max(0.0, self._next_resend - time.monotonic())
            self._sleep(wait)
            return
        for seq, eid, body in items:
            if self.stop.is_set():
                return
            self._attempts += 1
            outcome, why = self._post(client, body)
            if outcome == RETRY:
                self.counts.add(self.receiver.key, "retried")
                if not self._failing:
                    self._failing = True
                    self.note(
                        f"notify {safe(self.receiver.url)}: {why}; retrying with backoff "
                        f"(up to {self.retry_max:g}s apart)"
                    )
                self._sleep(self._delay * (0.75 + 0.5 * random.random()))
                self._delay = min(self._delay * 2, self.retry_max)
                return
            if outcome == OK:
                self.store.mark(seq, "sent", self._attempts)
                self.counts.add(self.receiver.key, "sent")
                if self._failing:
                    self._failing = False
                    self.note(f"notify {safe(self.receiver.url)}: delivering again")
            else:
                self.store.mark(seq, "failed", self._attempts)
                self.counts.add(self.receiver.key, "failed")
                self.note(f"notify {safe(self.receiver.url)}: {why} for {eid}; giving up on it")
            self._attempts = 0
            self._delay = self.retry_initial

    def _post(self, client: httpx.Client, body: str) -> tuple[str, str]:
        try:
            r = client.post(
                self.receiver.url,
                content=body.encode(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException:
            return RETRY, "timed out"
        except httpx.TransportError as exc:
            return RETRY, f"cannot connect ({type(exc).__name__})"
        if 200 <= r.status_code < 300:
            return OK, ""
        if r.status_code >= 500 or r.status_code in (408, 429):
            return RETRY, f"answered {r.status_code}"
        return GIVE_UP, f"answered {r.status_code}"
