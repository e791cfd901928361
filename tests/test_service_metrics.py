"""The /metrics rendering (service/metrics.py): one rendering per published View."""

from __future__ import annotations

from typing import Any

from hitwatch.service.metrics import Exposition, ServiceCollector, View


def test_scrapes_of_one_view_share_a_rendering_and_a_new_view_is_rendered() -> None:
    views = [View(requests={"2xx": 3}, bytes=10, rules=("high_traffic",))]
    extra: dict[str, Any] = {"sse_clients": 0}
    collector = ServiceCollector(lambda: views[-1], lambda: dict(extra))
    exposition = Exposition(collector)
    first, kind = exposition.render("")
    assert b'hitwatch_requests_total{status="2xx"} 3.0' in first
    assert kind.startswith("text/plain")
    again, _ = exposition.render("")
    assert again is first  # the same View: not rendered again
    open_metrics, kind = exposition.render("application/openmetrics-text; version=1.0.0")
    assert kind.startswith("application/openmetrics-text") and open_metrics.endswith(b"# EOF\n")
    views.append(View(requests={"2xx": 4}, bytes=10, rules=("high_traffic",)))
    newer, _ = exposition.render("")
    assert b'hitwatch_requests_total{status="2xx"} 4.0' in newer
    extra["sse_clients"] = 2
    clients, _ = exposition.render("")
    assert b"hitwatch_sse_clients 2.0" in clients
    assert collector.pinned is None
