"""The jsonl sink's f-string encoder against the json module (SPEC §5 is byte-exact).

The reference is what the sink did before: a dict per event given to json with
`ensure_ascii=True, separators=(",", ":")`, and ISO times from datetime.strftime.
Events are generated with hostile names (quotes, backslashes, control and
non-ASCII characters, lone surrogates), huge counts and times over every year
an ISO time can show.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitwatch.model import Alert, Quiet, Ranked, Report, Summary, Top
from hitwatch.outputs.jsonl import encode
from hitwatch.render import iso_utc, number

# --------------------------------------------------------- the reference

_CYCLE = 146_097 * 86_400
_SHIFT_AFTER = 253_402_300_799 - 2 * 86_400


def old_iso_utc(ts: int) -> str:
    if ts > _SHIFT_AFTER:
        d, years = datetime.fromtimestamp(ts - _CYCLE, UTC), 400
    else:
        d, years = datetime.fromtimestamp(ts, UTC), 0
    return f"{d.year + years:04d}{d.strftime('-%m-%dT%H:%M:%SZ')}"


def old_ranked(items: Ranked) -> list[dict[str, Any]]:
    return [{"name": name, "hits": hits} for name, hits in items]


def report_dict(r: Report) -> dict[str, Any]:
    return {
        "type": "stats",
        "start_ts": r.start_ts,
        "end_ts": r.end_ts,
        "start": old_iso_utc(r.start_ts),
        "end": old_iso_utc(r.end_ts),
        "hits": r.hits,
        "rate": r.rate,
        "bytes": r.bytes,
        "status": dict(r.status),
        "methods": dict(r.methods),
        "sections": old_ranked(r.sections),
        "hosts": old_ranked(r.hosts),
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
        "at": old_iso_utc(a.ts),
        "hits": a.hits,
        "rate": a.rate,
        "threshold": number(a.threshold),
        "window": a.window,
    }
    if a.since_ts is not None:
        d["since_ts"] = a.since_ts
    d["kind"] = a.kind
    if a.group is not None:
        d["group"] = {a.group[0]: a.group[1]}
    if a.errors is not None:
        d["errors"] = a.errors
        d["ratio"] = round(a.errors / a.hits, 4) if a.hits else 0.0
    if a.quantile is not None:
        d["quantile"] = number(a.quantile)
        d["latency"] = a.latency
    if a.top is not None:
        d["top"] = {
            name: old_ranked(items)
            for name, items in (
                ("sections", a.top.sections),
                ("hosts", a.top.hosts),
                ("status", a.top.status),
            )
            if items is not None
        }
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
        "first": old_iso_utc(s.first_ts) if s.first_ts is not None else None,
        "last": old_iso_utc(s.last_ts) if s.last_ts is not None else None,
        "max_late": s.max_late,
        "lateness": s.lateness,
        **s.extra,
    }


def dumps(d: dict[str, Any]) -> str:
    return json.dumps(d, ensure_ascii=True, separators=(",", ":"))


# ------------------------------------------------------------ strategies

FIRST_SECOND = -62_135_596_800
"""0001-01-01T00:00:00Z, the first second datetime can show."""
LAST_SECOND = 253_402_300_799 + _CYCLE
"""10399-12-31T23:59:59Z, the last one it can show after the 400-year shift."""
MAX_TS = 253_402_300_799

# Every code point, surrogates included, with the troublemakers made likely.
names = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.text(st.sampled_from('"\\/\x00\x1f\x7f\u2028\ud800\udfff\u00e9\U0001f600 '), max_size=6),
)
counts = st.one_of(st.integers(0, 1000), st.integers(0, 2**900))
# Log times: the whole range records may have, past 9999 for report ends, and
# the edges of days, years and of the 400-year shift.
times = st.one_of(
    st.integers(0, MAX_TS + 10**6),
    st.integers(0, MAX_TS // 86_400).map(lambda d: d * 86_400 + 86_399),
    st.sampled_from([0, 1, 86_399, 86_400, MAX_TS - 1, MAX_TS, MAX_TS + 1, _SHIFT_AFTER + 1]),
)
ranked = st.lists(st.tuples(names, counts), max_size=6).map(tuple)


@st.composite
def reports(draw: st.DrawFn) -> Report:
    start = draw(times)
    return Report(
        start,
        start + draw(st.integers(1, 10**6)),
        draw(counts),
        draw(counts),
        draw(ranked),
        draw(ranked),
        draw(ranked),
        draw(ranked),
        draw(counts),
        draw(counts),
        draw(counts),
    )


thresholds = st.one_of(
    st.integers(0, 10**6).map(Fraction),
    st.fractions(min_value=0, max_value=10**6),
    st.decimals(0, 10**6, allow_nan=False, allow_infinity=False, places=3).map(Fraction),
)
ranked_or_none = st.none() | st.lists(st.tuples(names, counts), max_size=3).map(tuple)
alerts = st.builds(
    Alert,
    names,
    st.sampled_from(["rate_above", "rate_below", "error_ratio_above"]),
    st.sampled_from(["firing", "resolved"]) | names,
    times,
    counts,
    st.integers(1, 10**7),
    thresholds,
    st.none() | times,
    st.none() | st.tuples(st.sampled_from(["section", "host", "method", "status"]), names),
    st.none() | counts,
    st.none() | st.builds(Top, ranked_or_none, ranked_or_none, ranked_or_none, counts),
    st.none() | st.sampled_from([Fraction(1, 2), Fraction(95, 100), Fraction(1)]),
    st.none() | st.floats(0, 1e6, allow_nan=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | counts | st.floats(allow_nan=False) | names,
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)
summaries = st.builds(
    Summary,
    counts,
    counts,
    counts,
    counts,
    counts,
    counts,
    st.none() | times,
    st.none() | times,
    counts,
    st.lists(names, max_size=3).map(tuple),
    counts,
    counts,
    st.just({}) | st.dictionaries(st.sampled_from(["lines", "firing", "x"]) | names, json_values),
)

# ----------------------------------------------------------------- tests


@settings(max_examples=400, deadline=None)
@given(reports())
def test_report_line_is_json_of_its_dict(r: Report) -> None:
    assert list(encode(r)) == [dumps(report_dict(r))]


@settings(max_examples=300, deadline=None)
@given(alerts)
def test_alert_line_is_json_of_its_dict(a: Alert) -> None:
    assert list(encode(a)) == [dumps(alert_dict(a))]


@settings(max_examples=300, deadline=None)
@given(summaries)
def test_summary_line_is_json_of_its_dict(s: Summary) -> None:
    assert list(encode(s)) == [dumps(summary_dict(s))]


@given(times, st.integers(1, 3600), st.integers(0, 20))
def test_quiet_lines_are_its_reports(start: int, interval: int, n: int) -> None:
    q = Quiet(start, start + n * interval, interval)
    assert list(encode(q)) == [dumps(report_dict(r)) for r in q.reports()]


def test_empty_report_and_summary() -> None:
    r = Report(0, 10, 0, 0, (), (), (), (), 0, 0, 0)
    assert list(encode(r)) == [dumps(report_dict(r))]
    s = Summary(0, 0, 0, 0, 0, 0, None, None, 0, (), 0, 300)
    assert list(encode(s)) == [dumps(summary_dict(s))]


@settings(max_examples=1000)
@given(
    st.one_of(
        st.integers(FIRST_SECOND, LAST_SECOND),
        st.integers(FIRST_SECOND // 86_400, LAST_SECOND // 86_400)
        .flatmap(lambda d: st.sampled_from([d * 86_400 - 1, d * 86_400, d * 86_400 + 1]))
        .filter(lambda t: FIRST_SECOND <= t <= LAST_SECOND),
        st.integers(1, 10399).flatmap(lambda y: st.sampled_from(year_edges(y))),
    )
)
def test_iso_utc_is_the_strftime_one(ts: int) -> None:
    assert iso_utc(ts) == old_iso_utc(ts)
    # The same day again, through the cache of dates.
    day = ts - ts % 86_400
    for other in (day, day + 86_399, ts):
        assert iso_utc(other) == old_iso_utc(other)


def year_edges(year: int) -> list[int]:
    """The last second of the year before `year` and the first of `year`."""
    shift = 400 if year > 9999 else 0
    first = int(datetime(year - shift, 1, 1, tzinfo=UTC).timestamp()) + (_CYCLE if shift else 0)
    return [t for t in (first - 1, first) if FIRST_SECOND <= t <= LAST_SECOND]


@pytest.mark.parametrize(
    ("ts", "iso"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_549_573_860, "2019-02-07T21:11:00Z"),
        (MAX_TS, "9999-12-31T23:59:59Z"),
        (MAX_TS + 1, "10000-01-01T00:00:00Z"),
        (LAST_SECOND, "10399-12-31T23:59:59Z"),
    ],
)
def test_iso_utc_known(ts: int, iso: str) -> None:
    assert iso_utc(ts) == iso == old_iso_utc(ts)


@pytest.mark.parametrize("ts", [FIRST_SECOND - 1, LAST_SECOND + 1, 10**13])
def test_iso_utc_out_of_range_fails_as_before(ts: int) -> None:
    with pytest.raises((ValueError, OverflowError)) as old:
        old_iso_utc(ts)
    with pytest.raises(old.type):
        iso_utc(ts)
