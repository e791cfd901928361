"""Invariants of SPEC §6, checked on generated input with hypothesis.

- the jsonl output does not depend on how the bytes arrive (chunking, blocks);
- reordering records within the lateness changes nothing;
- nothing is lost: lines = records + late + invalid + headers + empty;
- the batched engine equals the record-at-a-time reference;
- the fast block parsers equal the line-at-a-time reference.
"""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CSV_HEADER, INVALID, Op, engine_run, make_engine, row, run_bytes
from hitwatch.engine.recent import Recent
from hitwatch.engine.timeline import dense_run
from hitwatch.formats import make
from hitwatch.formats.base import decode_lines, parse_lines
from hitwatch.model import Alert, Top
from hitwatch.outputs.jsonl import encode as jsonl_lines
from hitwatch.render import iso_utc
from hitwatch.rules.rate_above import RateAbove

BASE = 1_549_573_860
NO_TOP = Top((), (), (), 0)  # of a window whose records are not kept
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

common = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
few = settings(common, max_examples=60)

# ------------------------------------------------------------- strategies

hosts = st.sampled_from(
    ["10.0.0.1", "10.0.0.2", "10.0.0.3", "a.example", "h,comma", 'q"uote', "caf\u00e9", ""]
)
targets = st.sampled_from(
    ["/", "/api", "/api/", "/api/user", "/a?b/c", "/x#y", "http://h/x/y?q", "*", "nopath", ""]
)
methods = st.sampled_from(["GET", "POST", "HEAD", "", "get"])
requests = st.one_of(
    st.builds(lambda m, t, v: f"{m} {t}{v}", methods, targets, st.sampled_from(["", " HTTP/1.1"])),
    st.sampled_from(["-", "GET", "GET /a HTTP/1.1 x", "\\x16\\x03\\x01", 'say "hi" /a']),
)
statuses = st.sampled_from(["200", "204", "301", "404", "500", "503", "100", "599"])
sizes = st.one_of(st.integers(0, 10**6).map(str), st.just("-"))


@st.composite
def records(draw: st.DrawFn, span: int = 400) -> tuple[int, str, str, str, str]:
    return (
        BASE + draw(st.integers(0, span)),
        draw(hosts),
        draw(requests),
        draw(statuses),
        draw(sizes),
    )


def quote(field: str) -> str:
    return '"' + field.replace('"', '""') + '"'


def csv_text(rec: tuple[int, str, str, str, str], style: int) -> str:
    ts, host, request, status, size = rec
    fields = [host, "-", "apache", str(ts), request, status, size]
    if style == 0:  # canonical: the fast path's shape when nothing needs escaping
        out = [quote(f) for f in fields[:3]] + [fields[3], quote(fields[4]), *fields[5:]]
    elif style == 1:  # everything quoted
        out = [quote(f) for f in fields]
    else:  # unquoted where it can be
        out = [quote(f) if ("," in f or '"' in f or not f) else f for f in fields]
    return ",".join(out)


def clf_text(rec: tuple[int, str, str, str, str], style: int) -> str:
    ts, host, request, status, size = rec
    stamp = iso_utc(ts)  # 2019-02-07T21:11:00Z -> 07/Feb/2019:21:11:00 +0000
    y, mo, d = stamp[:4], MONTHS[int(stamp[5:7]) - 1], stamp[8:10]
    clf_stamp = f"{d}/{mo}/{y}:{stamp[11:19]} +0000"
    escaped = request.replace("\\", "\\\\").replace('"', '\\"')
    line = f'{host.replace(" ", "_") or "-"} - - [{clf_stamp}] "{escaped}" {status} {size}'
    if style == 1:
        line += ' "http://ref/" "Mozilla/5.0 (X11)"'
    elif style == 2:
        line += ' "http://ref/" "Mozilla/5.0 (X1'
    return line


garbage = st.one_of(
    st.text(st.characters(exclude_characters="\n"), max_size=30),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").decode("utf-8", "replace")),
    st.sampled_from(
        [
            CSV_HEADER,
            "remotehost,rfc931,authuser,date,request,status,bytes",
            "",
            " ",
            "\r",
            '"10.0.0.1","-","apache",1549573860,"GET / HTTP/1.0",600,1',
            '"10.0.0.1","-","apache",15495738600000,"GET / HTTP/1.0",200,1',
            '10.0.0.1 - - [31/Feb/2019:21:11:00 +0000] "GET / HTTP/1.0" 200 1',
            '10.0.0.1 - - [07/Feb/2019:21:11:00 +0000] "GET / HTTP/1.0" 99 1',
        ]
    ),
)


def line_of(fmt: str) -> st.SearchStrategy[str]:
    maker = csv_text if fmt == "csv" else clf_text
    valid = st.builds(maker, records(), st.integers(0, 2))
    return st.one_of(valid, valid, valid, garbage)


def mixed_lines(fmt: str, min_size: int = 0, max_size: int = 60) -> st.SearchStrategy[list[str]]:
    return st.lists(line_of(fmt), min_size=min_size, max_size=max_size)


def encode(lines: list[str], crlf: bool = False, final_newline: bool = True) -> bytes:
    sep = "\r\n" if crlf else "\n"
    text = sep.join(lines) + (sep if final_newline and lines else "")
    return text.encode("utf-8", "surrogatepass")


chunkings = st.one_of(
    st.none(),
    st.just([1]),
    st.lists(st.integers(1, 300), min_size=1, max_size=8),
)
options = st.fixed_dictionaries(
    {
        "interval": st.sampled_from([1, 7, 10, 60]),
        "lateness": st.sampled_from([0, 3, 30, 300]),
        "window": st.sampled_from([5, 60, 120]),
        "threshold": st.sampled_from([Fraction(0), Fraction(1, 10), Fraction(1), Fraction(3, 2)]),
        "top": st.integers(1, 4),
    }
)


# ------------------------------------------------------------- chunking


@common
@given(
    fmt=st.sampled_from(["csv", "combined"]),
    lines=mixed_lines("csv") | mixed_lines("clf"),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    chunks=chunkings,
    opts=options,
)
def test_output_does_not_depend_on_chunking(
    fmt: str,
    lines: list[str],
    crlf: bool,
    final_newline: bool,
    chunks: list[int] | None,
    opts: dict[str, Any],
) -> None:
    data = encode(lines, crlf, final_newline)
    whole = run_bytes(data, fmt=fmt, **opts)
    cut = run_bytes(data, fmt=fmt, chunks=chunks or [1], **opts)
    assert cut.out == whole.out
    assert cut.invalid == whole.invalid


@few
@given(
    fmt=st.sampled_from(["csv", "clf"]),
    lines=st.data(),
    chunks=chunkings,
)
def test_auto_detection_does_not_depend_on_chunking(
    fmt: str, lines: st.DataObject, chunks: list[int] | None
) -> None:
    drawn = lines.draw(mixed_lines(fmt, min_size=1))
    data = encode(drawn)
    whole = run_bytes(data)
    cut = run_bytes(data, chunks=chunks or [1])
    assert cut.out == whole.out
    assert cut.notes == whole.notes


# ------------------------------------------------------------- ordering


@common
@given(
    fmt=st.sampled_from(["csv", "combined"]),
    recs=st.lists(records(span=600), min_size=1, max_size=80),
    seed=st.integers(0, 2**32),
    opts=options,
)
def test_reordering_within_the_lateness_changes_nothing(
    fmt: str, recs: list[tuple[int, str, str, str, str]], seed: int, opts: dict[str, Any]
) -> None:
    maker = csv_text if fmt == "csv" else clf_text
    lateness = opts["lateness"]
    in_order = sorted(recs, key=lambda r: r[0])
    rnd = random.Random(seed)
    # Read order by ts + d, d in [0, L]: every record is at most L behind the
    # newest read before it, so none is late.
    shuffled = sorted(recs, key=lambda r: r[0] + rnd.randint(0, lateness))
    a = run_bytes(encode([maker(r, 0) for r in in_order]), fmt=fmt, **opts)
    b = run_bytes(encode([maker(r, 0) for r in shuffled]), fmt=fmt, **opts)
    assert a.summary["late"] == b.summary["late"] == 0
    assert b.out == a.out


# ------------------------------------------------------------ accounting


@common
@given(
    fmt=st.sampled_from(["auto", "csv", "combined"]),
    lines=mixed_lines("csv") | mixed_lines("clf"),
    chunks=chunkings,
    lateness=st.sampled_from([0, 2, 300]),
)
def test_nothing_is_lost(
    fmt: str, lines: list[str], chunks: list[int] | None, lateness: int
) -> None:
    data = encode(lines)
    result = run_bytes(data, fmt=fmt, chunks=chunks, lateness=lateness)
    s = result.summary
    assert s["lines"] == len(lines)
    assert s["lines"] == s["records"] + s["late"] + s["invalid"] + s["headers"] + s["empty"]
    assert len(result.invalid) == s["invalid"]
    stats = result.of_type("stats")
    assert sum(r["hits"] for r in stats) == s["records"]
    assert sum(r["late"] for r in stats) == s["late"]
    # Every second of the timeline is in one stats or quiet line (SPEC §10).
    spans = [o for o in result.objects if o["type"] in ("stats", "quiet")]
    if spans:
        assert sum(r["invalid"] for r in stats) == s["invalid"]
        assert spans[0]["start_ts"] == s["first_ts"]
        assert spans[-1]["end_ts"] == s["last_ts"] + 1
        for x, y in itertools.pairwise(spans):
            assert x["end_ts"] == y["start_ts"]


# ------------------------------------------------- batched vs reference


@common
@given(
    lines=mixed_lines("csv", max_size=100),
    seed=st.integers(0, 2**32),
    late_share=st.sampled_from([0.0, 0.1, 0.5]),
    chunks=chunkings,
    opts=options,
)
def test_batched_engine_equals_reference_through_the_pipeline(
    lines: list[str],
    seed: int,
    late_share: float,
    chunks: list[int] | None,
    opts: dict[str, Any],
) -> None:
    rnd = random.Random(seed)
    rnd.shuffle(lines)
    # Make some lines late: move them far back in time.
    lines = [
        csv_text((BASE - rnd.randint(0, 500), "late", "GET /late", "200", "1"), 0)
        if rnd.random() < late_share
        else line
        for line in lines
    ]
    data = encode(lines)
    reference = run_bytes(data, chunks=chunks, batch=False, **opts)
    batched = run_bytes(data, chunks=chunks, batch=True, **opts)
    assert batched.out == reference.out
    whole = run_bytes(data, batch=True, **opts)
    assert whole.out == reference.out


op = st.one_of(
    st.builds(
        row,
        st.integers(0, 300).map(lambda d: BASE + d),
        st.sampled_from(["/a", "/b", "/c"]),
        st.sampled_from(["h1", "h2", "h3"]),
        st.sampled_from(["200", "404", "503", "2xx"]),
        st.sampled_from(["GET", "POST"]),
        st.integers(0, 100),
    ),
    st.builds(row, st.integers(0, 3000).map(lambda d: BASE + d)),
    st.just(INVALID),
)


@common
@given(ops=st.lists(op, max_size=120), opts=options)
def test_batched_engine_equals_reference(ops: list[Op], opts: dict[str, Any]) -> None:
    engine_run(ops, **opts)


@common
@given(
    ops=st.lists(op, max_size=120),
    opts=options,
    cuts=st.lists(st.integers(0, 120), max_size=4),
    advance=st.lists(st.integers(0, 400), max_size=4),
)
def test_snapshot_and_restore_change_nothing(
    ops: list[Op], opts: dict[str, Any], cuts: list[int], advance: list[int]
) -> None:
    """An engine stopped at any point, its snapshot taken through JSON into a
    new engine (a service restarted, SPEC §11), goes on to the same events as
    one that never stopped; the idle clock may have moved it in between."""
    reference = make_engine(**opts)
    restarted = make_engine(**opts)
    ref_out: list[str] = []
    got_out: list[str] = []
    stops = dict(zip(sorted(cuts), advance, strict=False))
    for i, op_ in enumerate([*ops, None]):
        if i in stops:
            for engine, out in ((reference, ref_out), (restarted, got_out)):
                engine.advance_to(engine.final + stops[i])
                out += [line for e in engine.drain() for line in jsonl_lines(e)]
            state = json.loads(json.dumps(restarted.snapshot()))
            restarted = make_engine(**opts)
            restarted.restore(state)
        if op_ is None:
            break
        for engine in (reference, restarted):
            if isinstance(op_, str):
                engine.add_invalid()
            else:
                engine.feed([op_])
        ref_out += [line for e in reference.drain() for line in jsonl_lines(e)]
        got_out += [line for e in restarted.drain() for line in jsonl_lines(e)]
    for engine, out in ((reference, ref_out), (restarted, got_out)):
        engine.finish()
        out += [
            line for e in [*engine.drain(), engine.summary(len(ops))] for line in jsonl_lines(e)
        ]
    assert got_out == ref_out


@settings(common, max_examples=300)
@given(
    hits=st.lists(st.one_of(st.just(0), st.integers(0, 40)), max_size=300),
    window=st.integers(1, 40),
    threshold=st.sampled_from(["0", "0.1", "1", "2.5", "10", "7/3", "123456789/1000"]),
    cuts=st.lists(st.integers(1, 60), min_size=1, max_size=6),
    first=st.sampled_from([BASE, 0, -7]),
    skips=st.lists(st.booleans(), min_size=1, max_size=6),
    restarts=st.lists(st.booleans(), min_size=1, max_size=6),
)
def test_rate_above_in_bulk_equals_second_by_second(
    hits: list[int],
    window: int,
    threshold: str,
    cuts: list[int],
    first: int,
    skips: list[bool],
    restarts: list[bool],
) -> None:
    """RateAbove.evaluate over runs of seconds cut anywhere equals a recount of
    the window at every second, compared as rationals (SPEC §4): also where
    seconds without hits are skipped, as the engine skips them once the window
    is empty, and across a snapshot restored into a new rule."""
    t = Fraction(threshold)
    expected = []
    firing = False
    since = 0
    for i in range(len(hits)):
        total = sum(hits[max(0, i - window + 1) : i + 1])
        now = total > t * window
        if now != firing:
            firing = now
            if now:
                since = first + i
                expected.append(
                    Alert("r", "rate_above", "firing", first + i, total, window, t, top=NO_TOP)
                )
            else:
                expected.append(
                    Alert("r", "rate_above", "resolved", first + i, total, window, t, since)
                )
    rule = RateAbove("r", window, t)
    got = []
    i = n = 0
    while i < len(hits):
        size = cuts[n % len(cuts)]
        if skips[n % len(skips)] and not any(hits[max(0, i - window) : i + 1]):
            while i < len(hits) and not hits[i]:
                i += 1
            continue
        if restarts[n % len(restarts)]:
            snapshot = json.loads(json.dumps(rule.snapshot()))
            rule = RateAbove("r", window, t)
            rule.restore(snapshot)
        n += 1
        got += rule.evaluate(first + i, hits[i : i + size], Recent(window))
        i += size
        end = min(i, len(hits))
        assert rule.total == sum(hits[max(0, end - window) : end])
    assert got == expected
    assert rule.firing() == (["r"] if firing else [])


@settings(common, max_examples=300)
@given(
    hits=st.lists(st.one_of(st.just(0), st.integers(0, 3)), max_size=200),
    settled=st.integers(-5, 50),
    horizon=st.integers(0, 30),
)
def test_dense_run_is_where_the_rules_may_change(
    hits: list[int], settled: int, horizon: int
) -> None:
    """dense_run takes second j while j <= settled or hits fall in [j - horizon, j]."""
    taken, last = dense_run(hits, settled, horizon)
    j = 0
    while j < len(hits) and (j <= settled or any(hits[max(0, j - horizon) : j + 1])):
        j += 1
    assert taken == j
    assert last == max((i for i in range(taken) if hits[i]), default=-1)


# ---------------------------------------------------------------- parsers


@common
@given(
    fmt=st.sampled_from(["csv", "clf"]),
    data=st.data(),
    crlf=st.booleans(),
)
def test_fast_parse_equals_reference(fmt: str, data: st.DataObject, crlf: bool) -> None:
    lines = data.draw(mixed_lines(fmt, max_size=40))
    raw = encode(lines, crlf)
    name = "csv" if fmt == "csv" else "combined"
    fast = make(name).parse(decode_lines(raw, 5))
    reference = parse_lines(make(name), decode_lines(raw, 5))
    assert fast == reference
    # The other format's parser on the same lines, too (all of them invalid or not).
    other = "combined" if fmt == "csv" else "csv"
    assert make(other).parse(decode_lines(raw)) == parse_lines(make(other), decode_lines(raw))


@common
@given(
    fmt=st.sampled_from(["csv", "clf"]),
    recs=st.lists(records(), min_size=1, max_size=40),
    style=st.integers(0, 2),
)
def test_fast_parse_equals_reference_on_valid_blocks(
    fmt: str, recs: list[tuple[int, str, str, str, str]], style: int
) -> None:
    maker = csv_text if fmt == "csv" else clf_text
    raw = encode([maker(r, style) for r in recs])
    name = "csv" if fmt == "csv" else "combined"
    fast = make(name).parse(decode_lines(raw))
    assert fast == parse_lines(make(name), decode_lines(raw))
    assert len(fast.ts) + len(fast.invalid) == len(recs)


# ------------------------------------------------------ an independent model


def spec_model(ops: list[Op], *, interval: int, lateness: int, window: int, threshold: Fraction):
    """SPEC §2–4 written out the slow, obvious way: a second at a time.

    Returns (events, totals): events in order, reports as ("stats", start, end,
    hits, bytes, late, invalid) and alerts as ("alert", state, ts, hits).
    """
    buckets: dict[int, int] = {}
    iv_hits: dict[int, int] = {}
    iv_bytes: dict[int, int] = {}
    iv_late: dict[int, int] = {}
    iv_invalid: dict[int, int] = {}
    events: list[tuple[Any, ...]] = []
    state = {"m": -1, "final": None, "start": None, "min": None, "firing": False}
    totals = {"records": 0, "late": 0, "invalid": 0, "max_late": 0, "alerts": 0}
    pending_invalid = 0

    def report(k: int, end: int) -> None:
        start = max(k * interval, state["start"])
        events.append(
            (
                "stats",
                start,
                end,
                iv_hits.get(k, 0),
                iv_bytes.get(k, 0),
                iv_late.get(k, 0),
                iv_invalid.get(k, 0),
            )
        )

    def make_final(upto: int) -> None:
        s = state["final"] + 1
        while s <= upto:
            hits = sum(buckets.get(t, 0) for t in range(s - window + 1, s + 1))
            firing = hits * threshold.denominator > threshold.numerator * window
            if firing != state["firing"]:
                state["firing"] = firing
                events.append(("alert", "firing" if firing else "resolved", s, hits))
                totals["alerts"] += firing
            if (s + 1) % interval == 0:
                report(s // interval, s + 1)
            s += 1
        state["final"] = max(state["final"], upto)

    def begin(start: int) -> None:
        nonlocal pending_invalid
        state["start"] = start
        state["final"] = start - 1
        k = start // interval
        iv_invalid[k] = iv_invalid.get(k, 0) + pending_invalid
        pending_invalid = 0

    for op in ops:
        if isinstance(op, str):
            totals["invalid"] += 1
            if state["start"] is None:
                pending_invalid += 1
            else:
                k = (state["final"] + 1) // interval
                iv_invalid[k] = iv_invalid.get(k, 0) + 1
            continue
        ts, nbytes = op[0], op[1]
        if state["start"] is not None and ts <= state["final"]:
            totals["late"] += 1
            totals["max_late"] = max(totals["max_late"], state["m"] - ts)
            k = (state["final"] + 1) // interval
            iv_late[k] = iv_late.get(k, 0) + 1
            continue
        totals["records"] += 1
        buckets[ts] = buckets.get(ts, 0) + 1
        iv_hits[ts // interval] = iv_hits.get(ts // interval, 0) + 1
        iv_bytes[ts // interval] = iv_bytes.get(ts // interval, 0) + nbytes
        state["m"] = max(state["m"], ts)
        if state["start"] is None:
            state["min"] = ts if state["min"] is None else min(state["min"], ts)
            if state["m"] - lateness - 1 >= state["min"]:
                begin(state["min"])
        if state["start"] is not None:
            make_final(state["m"] - lateness - 1)
    m = state["m"]
    if m >= 0:
        if state["start"] is None:
            begin(state["min"])
        make_final(m)
        if (m + 1) % interval:
            report(m // interval, m + 1)
    totals["first_ts"] = state["start"]
    totals["last_ts"] = m if m >= 0 else None
    return events, totals


model_op = st.one_of(
    st.builds(row, st.integers(0, 200).map(lambda d: BASE + d), nbytes=st.integers(0, 9)),
    st.builds(row, st.integers(0, 900).map(lambda d: BASE + d), nbytes=st.integers(0, 9)),
    st.just(INVALID),
)


@common
@given(ops=st.lists(model_op, max_size=80), opts=options)
def test_engine_matches_the_spec_model(ops: list[Op], opts: dict[str, Any]) -> None:
    events = engine_run(ops, **opts)
    expected, totals = spec_model(
        ops,
        interval=opts["interval"],
        lateness=opts["lateness"],
        window=opts["window"],
        threshold=opts["threshold"],
    )
    got = [
        ("stats", e["start_ts"], e["end_ts"], e["hits"], e["bytes"], e["late"], e["invalid"])
        if e["type"] == "stats"
        else ("alert", e["state"], e["ts"], e["hits"])
        for e in events[:-1]
    ]
    assert got == expected
    summary = events[-1]
    for key, value in totals.items():
        assert summary[key] == value, key
