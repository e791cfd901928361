"""Prometheus metrics of a service, in a CollectorRegistry of their own.

The counters come from `Totals`, which the ingestion thread updates from the
events as seconds become final and keeps in the checkpoint: they go on
across restarts, and once the input has ended and the idle clock has run,
they equal the summary (requests by class add up to `records`).

The ingestion thread publishes an immutable `View` after each step; the
collector reads whichever is current, so a scrape never waits for ingestion,
and scrapes of the same View share one rendering (`Exposition`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from hitwatch.model import OTHER, STATUS_CLASSES, Alert, Event, Report

MAX_SECTIONS = 100
"""Sections with a label of their own; the requests of any other are `(other)`."""

OUTCOMES = ("record", "late", "invalid", "header", "empty")


@dataclass
class Totals:
    """Counters kept across restarts (in the checkpoint, as JSON)."""

    requests: dict[str, int] = field(default_factory=dict)  # status class -> hits
    bytes: int = 0
    sections: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)  # rule -> firing events

    def add(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Report):
                self.add_report(event)
            elif isinstance(event, Alert) and event.state == "firing":
                self.alerts[event.rule] = self.alerts.get(event.rule, 0) + 1

    def add_report(self, r: Report) -> None:
        if not r.hits:
            return
        for cls, n in r.status:
            self.requests[cls] = self.requests.get(cls, 0) + n
        self.bytes += r.bytes
        sections = self.sections
        listed = 0
        for name, n in r.sections:
            listed += n
            if name not in sections and len(sections) >= MAX_SECTIONS:
                name = OTHER
            sections[name] = sections.get(name, 0) + n
        if r.hits > listed:
            sections[OTHER] = sections.get(OTHER, 0) + r.hits - listed

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "bytes": self.bytes,
            "sections": self.sections,
            "alerts": self.alerts,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> Totals:
        if not value:
            return cls()

        def counts(key: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in dict(value.get(key) or {}).items()}

        return cls(counts("requests"), int(value.get("bytes", 0)), counts("sections"),
                   counts("alerts"))  # fmt: skip


@dataclass(frozen=True)
class SourceView:
    name: str
    offset: int
    size: int
    role: str

    @property
    def caught_up(self) -> bool:
        return self.size >= 0 and self.offset >= self.size


@dataclass(frozen=True)
class View:
    """What the ingestion thread last published (read by scrapes and /api/v1/status)."""

    requests: Mapping[str, int] = field(default_factory=dict)
    bytes: int = 0
    sections: Mapping[str, int] = field(default_factory=dict)
    alerts: Mapping[str, int] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)  # outcome -> lines
    log_time: int | None = None
    final: int | None = None
    sources: tuple[SourceView, ...] = ()
    rules: tuple[str, ...] = ()
    firing: tuple[tuple[str, str, int], ...] = ()  # (rule, group label, since)
    caught_up: bool = False
    idle: bool = False
    checkpoints: int = 0
    committed_at: float = 0.0  # wall time of the last checkpoint


class ServiceCollector(Collector):
    """Every hitwatch_* metric, from the current View and a few live counts."""

    def __init__(
        self,
        view: Callable[[], View],
        extra: Callable[[], Mapping[str, Any]],
    ) -> None:
        self._view = view
        self._extra = extra
        self.pinned: tuple[View, Mapping[str, Any]] | None = None  # what collect reads

    def state(self) -> tuple[View, Mapping[str, Any]]:
        """What the metrics are made of now: the published View and the live counts."""
        return self._view(), self._extra()

    def collect(self) -> Iterator[Metric]:
        v, extra = self.pinned or self.state()
        requests = CounterMetricFamily(
            "hitwatch_requests", "Accepted requests in final seconds, by status class.",
            labels=["status"],
        )  # fmt: skip
        for cls in sorted(set(STATUS_CLASSES) | set(v.requests)):
            requests.add_metric([cls], v.requests.get(cls, 0))
        yield requests
        yield CounterMetricFamily(
            "hitwatch_response_bytes", "Response bytes of accepted requests in final seconds.",
            value=v.bytes,
        )  # fmt: skip
        lines = CounterMetricFamily("hitwatch_lines", "Lines read, by outcome.", labels=["outcome"])
        for outcome in OUTCOMES:
            lines.add_metric([outcome], v.lines.get(outcome, 0))
        yield lines
        sections = CounterMetricFamily(
            "hitwatch_section_requests",
            f"Accepted requests by section (the first {MAX_SECTIONS} seen in reports' top "
            "sections; the rest are (other)).",
            labels=["section"],
        )
        for name, n in sorted(v.sections.items()):
            sections.add_metric([name], n)
        yield sections
        firing = GaugeMetricFamily(
            "hitwatch_alert_firing", "1 while an alert rule (and group) fires.",
            labels=["rule", "group"],
        )  # fmt: skip
        now_firing = {(rule, group) for rule, group, _ in v.firing}
        for rule in v.rules:
            if not any(r == rule for r, _ in now_firing):
                firing.add_metric([rule, ""], 0)
        for rule, group in sorted(now_firing):
            firing.add_metric([rule, group], 1)
        yield firing
        alerts = CounterMetricFamily(
            "hitwatch_alerts", "Alerts raised (firing events), by rule.", labels=["rule"]
        )
        for rule in sorted(set(v.rules) | set(v.alerts)):
            alerts.add_metric([rule], v.alerts.get(rule, 0))
        yield alerts
        if v.log_time is not None:
            yield GaugeMetricFamily(
                "hitwatch_log_time_seconds", "The newest log time read (M), epoch seconds.",
                value=v.log_time,
            )  # fmt: skip
        if v.final is not None:
            yield GaugeMetricFamily(
                "hitwatch_final_time_seconds", "The last final second of log time, epoch seconds.",
                value=v.final,
            )  # fmt: skip
        offsets = GaugeMetricFamily(
            "hitwatch_source_offset_bytes", "Bytes of each followed file read as whole lines.",
            labels=["source", "role"],
        )  # fmt: skip
        sizes = GaugeMetricFamily(
            "hitwatch_source_size_bytes", "Size of each followed file.", labels=["source", "role"]
        )
        for s in v.sources:
            offsets.add_metric([s.name, s.role], s.offset)
            sizes.add_metric([s.name, s.role], max(s.size, 0))
        yield offsets
        yield sizes
        yield GaugeMetricFamily(
            "hitwatch_caught_up", "1 when every source has been read to its end.",
            value=int(v.caught_up),
        )  # fmt: skip
        yield CounterMetricFamily(
            "hitwatch_checkpoints", "State checkpoints committed by this process.",
            value=v.checkpoints,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "hitwatch_sse_clients", "Clients of /api/v1/events now.",
            value=int(extra.get("sse_clients", 0)),
        )  # fmt: skip
        notes = CounterMetricFamily(
            "hitwatch_notifications", "Notification deliveries by receiver and outcome "
            "(sent, retried, failed).", labels=["receiver", "outcome"],
        )  # fmt: skip
        for (receiver, outcome), n in sorted(dict(extra.get("notifications", {})).items()):
            notes.add_metric([receiver, outcome], n)
        yield notes


def make_registry(collector: ServiceCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


class Exposition:
    """The /metrics body, made once per state of the collector and format.

    The View changes when the ingestion thread commits (ten times a second at
    most), while twenty scrapers may ask within that time: they share one
    rendering. Runs on the event loop only."""

    def __init__(self, collector: ServiceCollector) -> None:
        self._collector = collector
        self._registry = make_registry(collector)
        self._made: dict[str, tuple[View, Mapping[str, Any], bytes]] = {}

    def render(self, accept: str) -> tuple[bytes, str]:
        """The text exposition (OpenMetrics when `accept` asks for it) and its content type."""
        encoder, content_type = choose_encoder(accept)
        view, extra = state = self._collector.state()
        made = self._made.get(content_type)
        if made is not None and made[0] is view and made[1] == extra:
            return made[2], content_type
        self._collector.pinned = state
        try:
            body = encoder(self._registry)
        finally:
            self._collector.pinned = None
        self._made[content_type] = (view, extra, body)
        return body, content_type
