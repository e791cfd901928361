"""Alert rules (SPEC §9) against a slow reference written from the specification.

The reference walks every final second, recounts each window from the
records, and decides tracking, `for`, firing and `top` the plain way. The
engine, with its bulk rule and its event-driven configured rules, skipping
empty stretches of log time, must give the same alerts, in the same order.
"""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hitwatch import rules
from hitwatch.config import RuleSpec
from hitwatch.engine.core import Engine
from hitwatch.model import Alert, Row
from hitwatch.outputs.jsonl import encode
from hitwatch.rules.selection import statuses_of

BASE = 1_700_000_000
COLUMNS = {"section": 1, "host": 2, "method": 3, "status": 4}
SECTIONS = ["/a", "/b", "/c"]
HOSTS = ["h1", "h2", "h3", "h4"]
METHODS = ["GET", "POST"]
STATUSES = ["200", "404", "500", "503"]

Record = tuple[int, str, str, str, str]  # ts, section, host, method, status


def reference(records: list[Record], specs: list[RuleSpec]) -> list[tuple[Any, ...]]:
    """SPEC §9 the slow way, for records read in order (none late), all final."""
    if not records:
        return []
    start = min(r[0] for r in records)
    end = max(r[0] for r in records)
    events: list[tuple[Any, ...]] = []
    for order, spec in enumerate(specs):
        match = [
            (dim, statuses_of(values) if dim == "status" else set(values))
            for dim, values in spec.match
        ]
        counted = [r for r in records if all(r[COLUMNS[d]] in ok for d, ok in match)]
        errors = statuses_of(spec.errors)
        group = spec.group_by

        def key_of(r: Record, group: str | None = group) -> str:
            return "" if group is None else r[COLUMNS[group]]

        if group is None:
            keys = {"": start}
        else:
            firsts: dict[str, int] = {}
            for r in counted:
                firsts[key_of(r)] = min(firsts.get(key_of(r), r[0]), r[0])
            chosen = sorted(firsts, key=lambda k: (firsts[k], k))[: spec.max_groups]
            keys = {k: firsts[k] for k in chosen}
        n, t = spec.window, spec.threshold
        for key, first in keys.items():
            mine = [r for r in counted if key_of(r) == key]
            firing, since, held = False, 0, None
            for s in range(first, end + 1):
                window = [r for r in mine if s - n < r[0] <= s]
                hits = len(window)
                errs = sum(1 for r in window if r[4] in errors)
                if spec.kind == "rate_above":
                    cond = hits > t * n
                elif spec.kind == "rate_below":
                    cond = s >= first + n - 1 and hits < t * n
                else:
                    cond = hits >= spec.min_hits and errs > t * hits
                if not cond:
                    held = None
                    if firing:
                        firing = False
                        events.append((s, order, key, "resolved", hits, errs, since, None))
                    continue
                held = s if held is None else held
                if not firing and s - held >= spec.for_:
                    firing, since = True, s
                    top_of = [
                        r for r in window if spec.kind != "error_ratio_above" or r[4] in errors
                    ]
                    events.append((s, order, key, "firing", hits, errs, None, top(top_of, group)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return events


def top(records: list[Record], group: str | None) -> dict[str, list[tuple[str, int]]]:
    def rank(values: list[str]) -> list[tuple[str, int]]:
        return sorted(Counter(values).items(), key=lambda i: (-i[1], i[0]))[:3]

    out = {}
    if group != "section":
        out["sections"] = rank([r[1] for r in records])
    if group != "host":
        out["hosts"] = rank([r[2] for r in records])
    if group != "status":
        out["status"] = rank([f"{r[4][0]}xx" for r in records])
    return out


def engine_events(
    records: list[Record], specs: list[RuleSpec], cuts: list[int], fold: bool = False
) -> list[Alert]:
    engine = Engine(interval=10, lateness=0, rules=[rules.build(s) for s in specs])
    if fold:  # every block goes into the tally of recent records at once
        engine.recent.budget = 0
    rows: list[Row] = [(ts, 1, sec, host, status, meth) for ts, sec, host, meth, status in records]
    i = n = 0
    while i < len(rows):
        size = cuts[n % len(cuts)] if cuts else len(rows)
        n += 1
        chunk = rows[i : i + size]
        engine.feed_columns(*(list(c) for c in zip(*chunk, strict=True)))  # type: ignore[arg-type]
        i += size
    engine.finish()
    return [e for e in engine.drain() if isinstance(e, Alert)]


def as_tuples(alerts: list[Alert], specs: list[RuleSpec]) -> list[tuple[Any, ...]]:
    order = {spec.name: i for i, spec in enumerate(specs)}
    out = []
    for a in alerts:
        key = a.group[1] if a.group else ""
        errs = a.errors if a.errors is not None else None
        t = None
        if a.top is not None:
            t = {
                name: list(items)
                for name, items in (
                    ("sections", a.top.sections),
                    ("hosts", a.top.hosts),
                    ("status", a.top.status),
                )
                if items is not None
            }
        out.append((a.ts, order[a.rule], key, a.state, a.hits, errs, a.since_ts, t))
    return out


def normal(events: list[tuple[Any, ...]], specs: list[RuleSpec]) -> list[tuple[Any, ...]]:
    """The reference's events with errs only where the kind reports them."""
    out = []
    for s, order, key, state, hits, errs, since, t in events:
        kind = specs[order].kind
        out.append(
            (s, order, key, state, hits, errs if kind == "error_ratio_above" else None, since, t)
        )
    return out


# ------------------------------------------------------------ strategies

records_st = st.lists(
    st.tuples(
        st.integers(0, 80),
        st.sampled_from(SECTIONS),
        st.sampled_from(HOSTS),
        st.sampled_from(METHODS),
        st.sampled_from(STATUSES),
    ),
    max_size=120,
).map(lambda rs: sorted((BASE + d, *rest) for d, *rest in rs))


@st.composite
def specs_st(draw: st.DrawFn) -> list[RuleSpec]:
    specs = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["rate_above", "rate_below", "error_ratio_above"]))
        ratio = kind == "error_ratio_above"
        threshold = draw(
            st.sampled_from(
                ["0", "0.1", "0.25", "0.5", "1"] if ratio else ["0", "0.1", "0.5", "1", "2.5"]
            )
        )
        match = []
        for dim, values in (
            ("section", SECTIONS),
            ("host", HOSTS),
            ("method", METHODS),
            ("status", ["2xx", "5xx", "404", "500"]),
        ):
            if draw(st.booleans()) and draw(st.booleans()):
                chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=2))
                match.append((dim, tuple(sorted(set(chosen)))))
        specs.append(
            RuleSpec(
                name=f"r{i}",
                kind=kind,
                window=draw(st.integers(1, 30)),
                threshold=Fraction(threshold),
                for_=draw(st.sampled_from([0, 0, 1, 3, 10])),
                match=tuple(match),
                group_by=draw(st.sampled_from([None, None, "section", "host", "method", "status"])),
                max_groups=draw(st.integers(1, 4)),
                errors=tuple(draw(st.sampled_from([["5xx"], ["404", "5xx"], ["500"]]))),
                min_hits=draw(st.integers(0, 4)),
            )
        )
    return specs


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=records_st,
    specs=specs_st(),
    cuts=st.lists(st.integers(1, 40), max_size=4),
    fold=st.booleans(),
)
@example(
    records=[(BASE, "/a", "h1", "GET", "200")] * 3 + [(BASE + 50, "/a", "h1", "GET", "200")],
    specs=[RuleSpec("quiet", "rate_below", 5, Fraction(1, 2))],
    cuts=[],
    fold=False,
)
def test_rules_equal_the_reference(
    records: list[Record], specs: list[RuleSpec], cuts: list[int], fold: bool
) -> None:
    got = as_tuples(engine_events(records, specs, cuts, fold), specs)
    assert got == normal(reference(records, specs), specs)


def test_builtin_shape_is_the_bulk_rule() -> None:
    assert type(rules.build(RuleSpec("r", "rate_above", 10, Fraction(1)))).__name__ == "RateAbove"
    grouped = RuleSpec("r", "rate_above", 10, Fraction(1), group_by="host")
    assert type(rules.build(grouped)).__name__ == "WindowRule"


def test_rate_below_waits_for_a_whole_window() -> None:
    """At the very start of the timeline nothing has had a window to fill."""
    spec = RuleSpec("quiet", "rate_below", 10, Fraction(1))
    records = [(BASE + i, "/a", "h1", "GET", "200") for i in range(3)]
    records += [(BASE + 40, "/a", "h1", "GET", "200")] * 10  # 10 hits: not below 1/s over 10 s
    alerts = engine_events(records, [spec], [])
    assert [(a.state, a.ts - BASE) for a in alerts] == [("firing", 9), ("resolved", 40)]


def test_for_interrupted_one_second_before_it_completes() -> None:
    spec = RuleSpec("busy", "rate_above", 1, Fraction(1), for_=3)
    hot = [(BASE + s, "/a", "h1", "GET", "200") for s in (0, 1, 2) for _ in range(2)]
    cooled = [(BASE + 3, "/a", "h1", "GET", "200")]
    again = [(BASE + s, "/a", "h1", "GET", "200") for s in range(4, 9) for _ in range(2)]
    alerts = engine_events(hot + cooled + again, [spec], [])
    assert [(a.state, a.ts - BASE) for a in alerts] == [("firing", 7)]  # held 4..7


def test_max_groups_by_first_second_then_name() -> None:
    spec = RuleSpec("g", "rate_above", 5, Fraction(0), group_by="host", max_groups=2)
    records = [
        (BASE, "/a", "zz", "GET", "200"),
        (BASE + 1, "/a", "bb", "GET", "200"),
        (BASE + 1, "/a", "aa", "GET", "200"),
        (BASE + 2, "/a", "cc", "GET", "200"),
    ]
    alerts = engine_events(records, [spec], [])
    assert sorted({a.group for a in alerts if a.group}) == [("host", "aa"), ("host", "zz")]


def test_thresholds_are_exact_decimals() -> None:
    """0.1 over 30 s is 3 hits: 3 is not above it, 4 is (binary floats say 3 is)."""
    spec = RuleSpec("r", "rate_above", 30, Fraction("0.1"), group_by="section")
    three = [(BASE, "/a", "h", "GET", "200")] * 3
    assert engine_events(three, [spec], []) == []
    four = [(BASE, "/a", "h", "GET", "200")] * 4
    assert [a.state for a in engine_events(four, [spec], [])] == ["firing"]


def test_alert_json_keys() -> None:
    spec = RuleSpec(
        "api_errors", "error_ratio_above", 10, Fraction("0.5"), group_by="host", min_hits=2
    )
    records = [(BASE, "/api", "h1", "GET", "500"), (BASE, "/api", "h1", "GET", "503")]
    alert = engine_events(records, [spec], [])[0]
    line = json.loads(next(encode(alert)))
    assert line["kind"] == "error_ratio_above"
    assert line["group"] == {"host": "h1"}
    assert (line["errors"], line["ratio"]) == (2, 1.0)
    assert line["top"] == {
        "sections": [{"name": "/api", "hits": 2}],
        "status": [{"name": "5xx", "hits": 2}],
    }
    assert alert.label == "api_errors{host=h1}"


def test_summary_names_firing_groups() -> None:
    spec = RuleSpec("g", "rate_above", 100, Fraction(0), group_by="section")
    engine = Engine(interval=10, lateness=0, rules=[rules.build(spec)])
    engine.feed([(BASE, 1, "/b", "h", "200", "GET"), (BASE + 1, 1, "/a", "h", "200", "GET")])
    engine.finish()
    engine.drain()
    assert engine.summary(2).firing == ("g{section=/a}", "g{section=/b}")


@pytest.mark.parametrize("kind", ["rate_above", "rate_below", "error_ratio_above"])
def test_text_lines_of_every_kind(kind: str) -> None:
    spec = RuleSpec(
        "r", kind, 2, Fraction(0 if kind == "error_ratio_above" else 1), min_hits=1,
        group_by="host",
    )  # fmt: skip
    records = [(BASE + s, "/a", "h", "GET", "500") for s in (0, 0, 0, 1, 1, 1, 9, 9, 9)]
    alerts = engine_events(records, [spec], [])
    assert {a.state for a in alerts} == {"firing", "resolved"}
    for alert in alerts:
        line = rules.text_line(alert, str)
        assert "r{host=h}" in line
        if alert.state == "firing":
            top_line = rules.top_line(alert)
            assert top_line is not None and top_line.startswith("  top: ")


def test_snapshot_of_configured_rules() -> None:
    specs = [
        RuleSpec("g", "rate_below", 5, Fraction(1), group_by="host", for_=2),
        RuleSpec("e", "error_ratio_above", 5, Fraction("0.3"), min_hits=1),
        RuleSpec("a", "rate_above", 4, Fraction("0.5"), group_by="host", for_=1),
    ]
    records = [(BASE + (i * 7) % 40, "/a", HOSTS[i % 3], "GET", STATUSES[i % 4]) for i in range(60)]
    records.sort()
    rows: list[Row] = [(t, 1, sec, h, st_, m) for t, sec, h, m, st_ in records]

    def run(stop_at: int | None) -> list[str]:
        engine = Engine(interval=10, lateness=3, rules=[rules.build(s) for s in specs])
        out: list[str] = []
        for i, row in enumerate(rows):
            if i == stop_at:
                state = json.loads(json.dumps(engine.snapshot()))
                engine = Engine(interval=10, lateness=3, rules=[rules.build(s) for s in specs])
                engine.restore(state)
            engine.feed([row])
            out += [line for e in engine.drain() for line in encode(e)]
        engine.finish()
        out += [line for e in engine.drain() for line in encode(e)]
        return out

    whole = run(None)
    for stop in (1, 17, 30, 59):
        assert run(stop) == whole


# --------------------------------------------------------- latency_above

Timed = tuple[int, str, str, float | None]  # ts, section, vhost, duration


def latency_reference(records: list[Timed], spec: RuleSpec) -> list[tuple[Any, ...]]:
    """latency_above the slow way: the nearest-rank quantile of each window's durations."""
    if not records:
        return []
    start, end = records[0][0], records[-1][0]
    col = {"section": 1, "vhost": 2}
    match = [(col[d], set(v)) for d, v in spec.match]
    counted = [r for r in records if r[3] is not None and all(r[c] in ok for c, ok in match)]

    def key_of(r: Timed) -> str:
        return "" if spec.group_by is None else str(r[col[spec.group_by]])

    if spec.group_by is None:
        keys = {"": start}
    else:
        firsts: dict[str, int] = {}
        for r in counted:
            firsts.setdefault(key_of(r), r[0])
        keys = dict(sorted(firsts.items(), key=lambda i: (i[1], i[0]))[: spec.max_groups])
    events = []
    for key, first in keys.items():
        firing, held = False, None
        for s in range(first, end + 1):
            window = sorted(
                r[3] for r in counted if key_of(r) == key and s - spec.window < r[0] <= s
            )
            n = len(window)
            value = (
                window[max(1, -(-spec.quantile.numerator * n // spec.quantile.denominator)) - 1]
                if n
                else None
            )
            cond = (
                n >= max(1, spec.min_hits)
                and value is not None
                and Fraction(repr(value)) > spec.threshold
            )
            if not cond:
                held = None
                if firing:
                    firing = False
                    events.append((s, key, "resolved", n, value))
                continue
            held = s if held is None else held
            if not firing and s - held >= spec.for_:
                firing = True
                events.append((s, key, "firing", n, value))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(
        st.tuples(
            st.integers(0, 60),
            st.sampled_from(SECTIONS),
            st.sampled_from(["a.example", "b.example"]),
            st.none() | st.sampled_from([0.1, 0.2, 0.25, 0.5, 1.0, 1.5, 0.001]),
        ),
        max_size=80,
    ).map(lambda rs: sorted(((BASE + d, *rest) for d, *rest in rs), key=lambda r: r[0])),
    window=st.integers(1, 20),
    threshold=st.sampled_from(["0", "0.1", "0.2", "0.5", "1"]),
    quantile=st.sampled_from(["0.5", "0.95", "1", "0.01"]),
    min_hits=st.integers(0, 4),
    for_=st.sampled_from([0, 0, 2]),
    group_by=st.sampled_from([None, "section", "vhost"]),
    match=st.sampled_from([(), (("vhost", ("a.example",)),)]),
)
def test_latency_above_equals_the_reference(
    records: list[Timed], window: int, threshold: str, quantile: str, min_hits: int,
    for_: int, group_by: str | None, match: tuple[tuple[str, tuple[str, ...]], ...],
) -> None:  # fmt: skip
    spec = RuleSpec(
        "slow", "latency_above", window, Fraction(threshold), for_, match, group_by, 3,
        min_hits=min_hits, quantile=Fraction(quantile),
    )  # fmt: skip
    engine = Engine(interval=10, lateness=0, rules=[rules.build(spec)])
    if records:
        ts, sections, vhosts, durations = (list(c) for c in zip(*records, strict=True))
        n = len(ts)
        engine.feed_columns(ts, [1] * n, sections, ["h"] * n, ["200"] * n, ["GET"] * n,
                            vhosts, durations)  # fmt: skip
    engine.finish()
    got = [
        (a.ts, a.group[1] if a.group else "", a.state, a.hits, a.latency)
        for a in engine.drain()
        if isinstance(a, Alert)
    ]
    assert got == latency_reference(records, spec)


def test_latency_in_reports_is_nearest_rank() -> None:
    engine = Engine(interval=10, lateness=0)
    durations: list[float | None] = [0.5, None, 0.1, 0.3, 0.2, 0.4]
    n = len(durations)
    engine.feed_columns([BASE] * n, [1] * n, ["/a"] * n, ["h"] * n, ["200"] * n, ["GET"] * n,
                        ["v"] * n, durations)  # fmt: skip
    engine.finish()
    (report,) = [e for e in engine.drain() if not isinstance(e, Alert)]
    line = json.loads(next(encode(report)))
    # 5 durations sorted 0.1 .. 0.5: p50 is the 3rd, p95 and p99 the 5th.
    assert line["latency"] == {"p50": 0.3, "p95": 0.5, "p99": 0.5, "max": 0.5, "records": 5}
    assert line["vhosts"] == [{"name": "v", "hits": 6}]


def test_latency_text_lines() -> None:
    spec = RuleSpec("slow", "latency_above", 5, Fraction("0.2"), min_hits=1, group_by="vhost")
    engine = Engine(interval=10, lateness=0, rules=[rules.build(spec)])
    for t, d in ((0, 0.5), (1, 0.6), (9, 0.01), (9, 0.02)):
        engine.feed_columns([BASE + t], [1], ["/a"], ["h"], ["200"], ["GET"], ["v"], [d])
    engine.finish()
    alerts = [e for e in engine.drain() if isinstance(e, Alert)]
    # The window empties at 6 (too few records with a duration): resolved then.
    assert [(a.state, a.ts - BASE) for a in alerts] == [("firing", 0), ("resolved", 6)]
    assert rules.text_line(alerts[0], str).startswith(
        "slow{vhost=v} generated an alert - p95 = 500 ms over 1 requests"
    )
    assert "recovered - p95 = - over 0 requests" in rules.text_line(alerts[1], str)
    assert rules.top_line(alerts[0]) == "  top: section /a 100% · host h 100% · status 2xx 100%"
