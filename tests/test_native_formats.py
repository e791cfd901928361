"""The kernel's description parser (`native/describe.h`) against `formats/text.py`.

A text format defined by a description (every text preset, every format
string given with --log-format) is read by the kernel as the Python parser
reads it: line by line the same record (vhost and duration included) or the
same reason, and through the whole pipeline the same JSON lines, byte for
byte, however the bytes are cut and whichever way the native reader reads
them (fed, its own buffer, a file read by worker threads in a map or with
pread), with rules that match and group by vhost and watch latency. A case
that ever differs is saved to tests/native_formats_corpus/ and replayed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import math
import random
import struct
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import (
    DATA,
    ChunkedReadinto,
    ChunkedStream,
    Result,
    _run,
    cut,
    file_block,
    needs_data,
)
from hitwatch import formats, native, rules
from hitwatch.config import RuleSpec
from hitwatch.engine.core import Engine
from hitwatch.formats.base import HEADERS, MAX_LINE
from hitwatch.formats.compiler import FormatError, compile_format, compile_notation
from hitwatch.formats.describe import (
    BYTES,
    CLOCK,
    DATE,
    DURATION,
    FIELD,
    HOST,
    LITERAL,
    METHOD,
    QUOTED,
    REQUEST,
    SKIP,
    STATUS,
    TARGET,
    TIME,
    VHOST,
    XFF,
    Description,
    Item,
)
from hitwatch.formats.presets import PRESETS
from hitwatch.formats.text import TextFormat
from hitwatch.formats.w3c import fields_description
from hitwatch.outputs.jsonl import JsonlSink
from hitwatch.rules.rate_above import RateAbove
from hitwatch.sources import Source, open_source
from test_formats_text import descriptions as item_descriptions
from test_formats_text import render

pytestmark = pytest.mark.skipif(
    not native.available(), reason=f"native kernel not built: {native.why_not()}"
)

CORPUS = Path(__file__).resolve().parent / "native_formats_corpus"
REALWORLD = DATA / "realworld"
TEXT_PRESETS = [name for name, p in PRESETS.items() if p.kind in ("apache", "notation")]
VCOMBINED_D = '%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D'
NGINX_TIMED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time $upstream_response_time $host '
    '"$http_x_forwarded_for"'
)


def kernel() -> Any:
    module = native.kernel_module()
    assert module is not None
    return module


def registered(how: str, xff: bool = False) -> str:
    """The registered name of a preset or format string (with --forwarded-for)."""
    name = formats.resolve(log_format=how, forwarded_for=xff)
    info = formats.FORMATS[name]
    if info.native is None and isinstance(formats.make(name), TextFormat):
        formats.FORMATS[name] = dataclasses.replace(info, native=native.DESC)  # (until it is)
    return name


def blob_of(desc: Description, xff: bool = False) -> bytes:
    got = native.encode_description(TextFormat("t", desc, xff))
    assert got is not None
    return got


# ------------------------------------------------------------ one line


def python_line(fmt: TextFormat, raw: bytes) -> Any:
    """What the Python reader makes of one line's bytes: a FullRow, a reason, or
    "header" (as decode_lines and lines_block see it)."""
    line = raw.decode("utf-8", "replace")
    if line.endswith("\r"):
        line = line[:-1]
    if line in HEADERS:
        return "header"
    if len(raw.removesuffix(b"\r")) > MAX_LINE:
        return "line longer than 64 KiB"
    return fmt.parse_full(line)


def kernel_line(fmt: TextFormat, raw: bytes) -> Any:
    blob = native.encode_description(fmt)
    assert blob is not None
    got = kernel().parse_line(blob, raw)
    if got == 100:
        return "header"
    if isinstance(got, int):
        return native.reason(got, 0, f"not a {fmt.name} line")
    return got


def same_line(fmt: TextFormat, raw: bytes) -> Any:
    want, got = python_line(fmt, raw), kernel_line(fmt, raw)
    assert got == want, (fmt.desc.notation(), raw)
    if isinstance(want, tuple) and want[7] is not None:
        assert struct.pack("<d", want[7]) == struct.pack("<d", got[7])  # bit for bit
    return want


VALUES: dict[int, list[str]] = {
    TIME: [
        "14/Nov/2023:22:13:20 +0000",
        "14/Nov/2023:22:13:20 -0130",
        "29/Feb/2023:22:13:20 +0000",
        "14/nov/2023:22:13:20 +0000",
        "2023-11-14T22:13:20+01:00",
        "2023-11-14 22:13:20.123456789Z",
        "2023-11-14T22:13:60+0100",
        "1700000000",
        "1700000000.25",
        "1700000000123",
        "99999999999999999999",
    ],
    STATUS: ["200", "404", "503", "600", "099", "2x0", "20", "2000", "-"],
    BYTES: ["-", "0", "1234", "999999999999999", "1000000000000000", "", "1a", "--"],
    DURATION: [
        "0.042",
        "-",
        "12",
        "0.000040",
        "1.",
        ".5",
        "-1",
        "1,2",
        "9007199254740993",
        "123456789012345678.123456789012345678",
        "0.1000000000000000055511151231257827",
    ],
    HOST: ["10.0.0.1", "[2001:db8::7]:52100", "1.2.3.4:80", "h:\u00b2", "h:", "a:b:1", "-", "x"],
    VHOST: ["www.example.com:443", "w:\u0661\u0662", "w", "", "[::1]"],
    XFF: ["203.0.113.7, 10.0.0.2", "-", "", " \u2000a\xa0 ,b", "\x85x\x85", "\ufffd"],
    REQUEST: [
        "GET /a/b?c HTTP/1.1",
        "-",
        "GET http://h/x/y?q HTTP/1.1",
        "\\x16\\x03\\x01",
        "GET  /a",
        'GET /q\\"x HTTP/1.1',
        "POST /" + "x" * 70 + " HTTP/1.1",
    ],
    METHOD: ["GET", "G T", "<S>", "PROPFIND"],
    TARGET: ["/a/b?c", "http://x/y", "*", ""],
    DATE: ["2023-11-14", "2023-02-29", "14/Nov/2023"],
    CLOCK: ["22:13:20", "22:13:20.5Z", "25:00:00"],
    SKIP: ["-", "x", "a b", '"q"', "\u00e9"],
}
JUNK = ' "\\-[]:/.,0123456789aGET\u00e9\u2000\xa0\ufffd\x85\u00b2'


@st.composite
def lines_of(draw: st.DrawFn, desc: Description) -> bytes:
    """A line in the shape of `desc` (its values drawn from VALUES, junk at
    times), maybe cut, with junk inserted, or bytes that are not UTF-8."""
    out = []
    for item in desc.items:
        if item.kind == LITERAL:
            out.append(item.text)
            continue
        if draw(st.integers(0, 9)) == 0:
            value = draw(st.text(JUNK, max_size=6))
        else:
            value = draw(st.sampled_from(VALUES[item.field]))
        if item.kind == QUOTED and draw(st.integers(0, 4)):
            value = '"' + value.replace('"', '\\"') + '"'
        out.append(value)
    raw = "".join(out).encode("utf-8", "surrogateescape")
    mutation = draw(st.integers(0, 9))
    if mutation == 1:
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mutation == 2:
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\r", b'"', b" ", b"\\"]))
        raw = raw[:at] + junk + raw[at:]
    elif mutation == 3:
        raw += b"\r"
    return raw


# Descriptions: the text presets, format strings users write, and random ones.
SPECS = [
    VCOMBINED_D,
    NGINX_TIMED,
    "$time_iso8601 $status $request_time $upstream_response_time",
    "$msec $status $host $http_x_forwarded_for $upstream_response_time",
    "%h %{%d/%b/%Y %T}t %m %U%q %H %s %B %{ms}T %{X-Forwarded-For}i",
    "%h %{%e %b %Y %H:%M:%S.%f %z}t %s",
    "%{%a %d %b %Y %H:%M %z}t %s %b",
    "%>s%b %t %a",
    "%t%>s %b",
    "$status$body_bytes_sent [$time_local]",
    "%{sec}t %>s %D %{ms}T %T",
]
NOTATIONS = [
    "{time:usec} {status} {host:port} {vhost:port} {duration:ns}",
    "{time:msec}|{status}{bytes}|{duration:us}",
    "{time:%d/%m/%Y %H:%M:%S} {status} {duration:s}+{duration:ms}",
    '{date} {clock} "{host}" {status}',
    "{time:%Y-%m-%dT%H:%M:%S%z} {status} {time} {target}",
]


def all_descriptions() -> list[tuple[str, Description]]:
    out = [(spec, compile_format(spec)) for spec in SPECS]
    out += [(spec, compile_notation(spec)) for spec in NOTATIONS]
    out += [(name, formats.make(name).desc) for name in TEXT_PRESETS]  # type: ignore[attr-defined]
    out.append(
        (
            "w3c",
            fields_description(
                "date time c-ip cs-method cs-uri-stem sc-status "
                "time-taken cs(host) x-forwarded-for",
                " ",
                "ms",
            ),
        )
    )
    return out  # fmt: skip


DESCRIPTIONS = all_descriptions()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DESCRIPTIONS), st.booleans(), st.data())
def test_lines_read_alike(named: tuple[str, Description], xff: bool, data: st.DataObject) -> None:
    _, desc = named
    fmt = TextFormat("t", desc, xff)
    for _ in range(20):
        same_line(fmt, data.draw(lines_of(desc)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item_descriptions(), st.data())
def test_random_descriptions_read_alike(desc: Description, data: st.DataObject) -> None:
    """The descriptions test_formats_text draws (fields apart by literals of
    quotes, brackets, digits, spaces), lines from their values or anything."""
    fmt = TextFormat("t", desc)
    nfields = sum(item.kind != LITERAL for item in desc.items)
    values = st.sampled_from(["1700000000", "200", "-", "GET / HTTP/1.1", "a b", '"x"', "", "7.5"])
    for _ in range(10):
        line = render(desc, data.draw(st.lists(values, min_size=nfields, max_size=nfields)))
        same_line(fmt, line.encode())
        same_line(fmt, data.draw(st.text(' "\\-[]:/.0123456789aGET\xe9', max_size=30)).encode())
        same_line(fmt, data.draw(st.binary(max_size=40)))


_TOKENS = [
    "$remote_addr", "$host", "$time_local", "$time_iso8601", "$msec", "$request", "$status",
    "$body_bytes_sent", "$request_time", "$upstream_response_time", "$http_x_forwarded_for",
    "$request_method", "$request_uri", "$remote_user", "%h", "%v", "%t", "%{%d/%b/%Y:%T}t",
    "%r", "%>s", "%b", "%D", "%T", "%{ms}T", "%m", "%U%q", "%{X-Forwarded-For}i", "%p",
]  # fmt: skip
_SEPARATORS = [" ", " - ", ' "', '" ', " [", "] ", ":", "|", "\t", ', "', " (", ") "]


_TIMES = {True: ["$time_local", "$time_iso8601", "$msec"], False: ["%t", "%{%d/%b/%Y:%T}t",
          "%{sec}t", "%{msec}t", "%{%Y-%m-%d %H:%M:%S.%f %z}t"]}  # fmt: skip
_STATUSES = {True: ["$status"], False: ["%>s", "%s"]}


@st.composite
def format_strings(draw: st.DrawFn) -> Description:
    """A random nginx or Apache format string that compiles: a time, a status,
    and others, apart by separators."""
    nginx = draw(st.booleans())
    tokens = [t for t in _TOKENS if t.startswith("$") == nginx]
    parts = [draw(st.sampled_from(_TIMES[nginx])), draw(st.sampled_from(_STATUSES[nginx]))]
    parts += draw(st.lists(st.sampled_from(tokens), max_size=6))
    draw(st.randoms()).shuffle(parts)
    text = draw(st.sampled_from(["", "[", '"']))
    for part in parts:
        text += part + draw(st.sampled_from(_SEPARATORS))
    try:
        return compile_format(text)
    except FormatError:
        assume(False)
        raise


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(format_strings(), st.booleans(), st.data())
def test_random_format_strings_read_alike(
    desc: Description, xff: bool, data: st.DataObject
) -> None:
    fmt = TextFormat("t", desc, xff)
    for _ in range(10):
        same_line(fmt, data.draw(lines_of(desc)))


@pytest.mark.parametrize(
    "line",
    [
        b'10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET /a HTTP/1.1" 200 1 "-" "-" 0.5',
        b"",
        b'"remotehost","rfc931","authuser","date","request","status","bytes"',
        b'\xe2\x82 - - [14/Nov/2023:22:13:20 +0000] "GET /a HTTP/1.1" 200 1 "-" "-" 0.5\r',
        b'h - - [14/Nov/2023:22:13:20 +0000] "GET /' + b"x" * 70_000 + b' HTTP/1.1" 200 1',
        b"Feb  6 12:14:14 lb haproxy[14]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] in s/1 "
        b'10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu|a b} {} "GET /i HTTP/1.1"',
    ],
)
def test_lines_by_example(line: bytes) -> None:
    for _, desc in DESCRIPTIONS:
        same_line(TextFormat("t", desc), line)


@pytest.mark.parametrize("width_field", ["%>s%b %t", "%t%>s %b"])
def test_a_width_counts_characters_as_python_does(width_field: str) -> None:
    """A field followed by a field is `width` characters of the decoded line:
    undecodable bytes (one U+FFFD for a maximal invalid sequence) and
    multi-byte characters count one each."""
    fmt = TextFormat("t", compile_format(width_field))
    for head in (b"2\xe2\x82X", b"\xc3\xa90", b"2\xf0\x9f\x98", b"\xf0\x80\x80", b"20\xed\xa0\x80"):
        for tail in (b" 5 [14/Nov/2023:22:13:20 +0000]", b"1 [14/Nov/2023:22:13:20 +0000] 5"):
            same_line(fmt, head + tail)
            same_line(fmt, b"[14/Nov/2023:22:13:20 +0000]" + head + tail)


@settings(max_examples=500, deadline=None)
@given(
    st.from_regex(r"[0-9]{1,18}(\.[0-9]{1,18})?", fullmatch=True),
    st.sampled_from(["s", "ms", "us", "ns"]),
)
@example("123456789012345678.123456789012345678", "s")
@example("9007199254740993", "s")
@example("9007199254740993", "ns")
@example("0.000000000000000001", "ns")
@example("999999999999999999.999999999999999999", "ms")
def test_durations_are_pythons_floats_bit_for_bit(text: str, unit: str) -> None:
    desc = compile_notation(f"{{time:sec}} {{status}} {{duration:{unit}}}")
    row = kernel().parse_line(blob_of(desc), f"1700000000 200 {text}".encode())
    want = float(text) / {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[unit]
    assert struct.pack("<d", row[7]) == struct.pack("<d", want)


def test_descriptions_the_kernel_declines() -> None:
    problem = kernel().describe_problem
    assert problem(blob_of(compile_format(VCOMBINED_D))) is None
    assert problem(b"") is not None and problem(b"\x00\x01\x02") is not None
    many = compile_notation("{time:%f%f%f%f%f %Y %b %d %H:%M} {status}")
    assert problem(blob_of(many)) is not None  # more than 4 of %e %f %z: Python reads it
    fffd = Description(
        (Item(FIELD, TIME, "sec"), Item(LITERAL, SKIP, " \ufffd "), Item(FIELD, STATUS))
    )
    assert problem(blob_of(fffd)) is not None
    with pytest.raises(ValueError):
        kernel().Kernel(kernel().DESC, 10, 300)  # a description is needed
    with pytest.raises(ValueError):
        kernel().Kernel(kernel().CLF, 10, 300, 5, False, blob_of(many))


# ------------------------------------------------------------ registry


def test_every_text_preset_and_format_string_is_read_natively() -> None:
    for name in TEXT_PRESETS:
        assert native.format_code(registered(name)) == kernel().DESC, name
    assert native.format_code(registered(VCOMBINED_D)) == kernel().DESC
    assert native.format_code(registered(NGINX_TIMED, xff=True)) == kernel().DESC
    for name in ("caddy", "traefik-json", "w3c", "cloudfront"):
        assert native.format_code(name) is None, name
    assert native.format_code("clf") == kernel().CLF


def test_unicode_tables_are_this_pythons() -> None:
    """unicode.h (digits of ports, spaces of X-Forwarded-For) is generated from
    Python's str.isdigit and str.isspace; format_code declines descriptions
    under another Unicode version, whose tables might differ."""
    header = (Path(native.__file__).parent / "unicode.h").read_text()
    if unicodedata.unidata_version != kernel().UNIDATA_VERSION:
        pytest.skip("another Unicode version: descriptions are read by Python")
    assert header == unicode_header()


def unicode_header() -> str:
    """unicode.h as this Python makes it (write it there to regenerate)."""
    digits = [c for c in range(0x110000) if chr(c).isdigit()]
    ranges: list[list[int]] = []
    for c in digits:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    spaces = [c for c in range(0x110000) if chr(c).isspace()]
    rows = [
        "    " + " ".join(f"{{0x{a:X}, 0x{b:X}}}," for a, b in ranges[i : i + 4])
        for i in range(0, len(ranges), 4)
    ]
    space_rows = [
        "    " + " ".join(f"0x{c:X}," for c in spaces[i : i + 8]) for i in range(0, len(spaces), 8)
    ]
    nl = "\n"
    return f"""/* Generated by tests/test_native_formats.py (unicode_header) from Python's
 * str.isdigit and str.isspace, Unicode {unicodedata.unidata_version}: do not edit. The kernel
 * reads a description natively only when Python's Unicode data is this
 * version (hitwatch.native.format_code). */
#ifndef HITWATCH_UNICODE_H
#define HITWATCH_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#define HW_UNIDATA_VERSION "{unicodedata.unidata_version}"

/* Code points c with chr(c).isdigit(), as ranges. */
static const uint32_t HW_UNI_DIGITS[][2] = {{
{nl.join(rows)}
}};

/* Code points c with chr(c).isspace() (what str.strip() strips). */
static const uint32_t HW_UNI_SPACES[] = {{
{nl.join(space_rows)}
}};

static inline int hw_uni_isdigit(uint32_t c) {{
    size_t lo = 0, hi = sizeof HW_UNI_DIGITS / sizeof HW_UNI_DIGITS[0];
    while (lo < hi) {{
        size_t mid = (lo + hi) / 2;
        if (c < HW_UNI_DIGITS[mid][0])
            hi = mid;
        else if (c > HW_UNI_DIGITS[mid][1])
            lo = mid + 1;
        else
            return 1;
    }}
    return 0;
}}

static inline int hw_uni_isspace(uint32_t c) {{
    for (size_t i = 0; i < sizeof HW_UNI_SPACES / sizeof HW_UNI_SPACES[0]; i++)
        if (HW_UNI_SPACES[i] == c) return 1;
    return 0;
}}

#endif
"""


# ------------------------------------------------------- the whole run

LATENCY_RULES = [
    RuleSpec("slow", "latency_above", 5, Fraction("0.2"), min_hits=1, group_by="vhost"),
    RuleSpec("busy_vhost", "rate_above", 5, Fraction("0.5"), match=(("vhost", ("a.example",)),)),
    RuleSpec("per_vhost", "rate_above", 3, Fraction(1), group_by="vhost", max_groups=3),
    RuleSpec("p50", "latency_above", 10, Fraction("0.05"), min_hits=3, quantile=Fraction(1, 2)),
]


class CheckedEngine(Engine):
    """An engine that holds no ranked interval between blocks: a description's
    come with vhosts and latency, which `intervals.ready_of` (a snapshot
    restored) would not take; each block's are reported before it ends."""

    def absorb(self, state: Any, **counts: Any) -> None:
        super().absorb(state, **counts)
        assert not self._ready


def run(
    data: bytes,
    *,
    fmt: str,
    engine_name: str = "python",
    via: str = "read",
    chunks: Sequence[int] | None = None,
    block: int | None = None,
    specs: Sequence[RuleSpec] = (),
    interval: int = 10,
    lateness: int = 300,
    window: int = 120,
    threshold: str = "10",
    top: int = 5,
    fold: bool = False,
) -> Result:
    """conftest.run_bytes with configured rules besides the built-in one (`fold`:
    every block of recent records goes into their tally at once)."""
    rule_list = [RateAbove("high_traffic", window, Fraction(threshold))]
    rule_list += [rules.build(spec) for spec in specs]
    engine = CheckedEngine(interval=interval, lateness=lateness, top=top, rules=rule_list)
    if fold:
        engine.recent.budget = 0
    out = io.StringIO()
    result = Result("")
    mapped = via != "file-pread"
    with file_block(block, workers=2, mapped=mapped):
        if via in ("file", "file-pread"):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "log"
                path.write_bytes(data)
                source = open_source(str(path))
                source.name = "<test>"
                return _run(source, fmt, engine, JsonlSink(out), out, result, engine_name)
        stream = (ChunkedReadinto if via == "readinto" else ChunkedStream)(cut(data, chunks))
        source = Source("<test>", stream, live=False)  # type: ignore[arg-type]
        return _run(source, fmt, engine, JsonlSink(out), out, result, engine_name)


def save_case(case: dict[str, Any]) -> Path:
    blob = json.dumps(case, sort_keys=True).encode()
    path = CORPUS / f"case-{hashlib.sha256(blob).hexdigest()[:16]}.json"
    CORPUS.mkdir(exist_ok=True)
    path.write_bytes(blob + b"\n")
    return path


def check_same(
    data: bytes,
    *,
    how: str,
    xff: bool = False,
    chunks: Sequence[int] | None = None,
    native_chunks: Sequence[int] | None = None,
    rules_on: bool = False,
    **opts: Any,
) -> str:
    """The native reader, each way it reads, against the pure one: the same
    JSON lines, invalid lines and notes. A case that differs is saved first."""
    fmt = registered(how, xff)
    specs = LATENCY_RULES if rules_on else ()
    pure = run(data, fmt=fmt, chunks=chunks, specs=specs, **opts)
    block = native_chunks[-1] if native_chunks else None
    for via in ("read", "readinto", "file", "file-pread"):
        got = run(data, fmt=fmt, engine_name="native", via=via, chunks=native_chunks,
                  block=block, specs=specs, **opts)  # fmt: skip
        if (got.out, got.invalid, got.notes) != (pure.out, pure.invalid, pure.notes):
            path = save_case(
                {
                    "data": base64.b64encode(data).decode(),
                    "how": how,
                    "xff": xff,
                    "chunks": list(chunks or []),
                    "native_chunks": list(native_chunks or []),
                    "rules": rules_on,
                    "opts": opts,
                }
            )
            assert got.out == pure.out, f"jsonl differs via {via}; saved to {path}"
            assert got.invalid == pure.invalid, f"invalid lines differ via {via}; saved to {path}"
            assert got.notes == pure.notes, f"notes differ via {via}; saved to {path}"
    return pure.out


BASE = 1_700_000_000
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def clf_time(ts: int) -> str:
    import datetime as dt

    t = dt.datetime.fromtimestamp(ts, dt.UTC)
    return f"{t.day:02d}/{MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"


def iso_time(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.250000Z")


def timed_value(item: Item, ts: int, draw: st.DrawFn) -> str:
    """A value of `item` for a line at time ts (mostly well formed)."""
    field, arg = item.field, item.text
    if field == TIME:
        if arg in ("", "%d/%b/%Y:%H:%M:%S %z"):
            return clf_time(ts)
        if arg == "iso8601":
            return iso_time(ts)
        if arg == "%d/%b/%Y:%H:%M:%S.%f":
            return clf_time(ts)[:20] + ".250"
        if arg in ("sec", "msec", "usec"):
            return str(ts * {"sec": 1, "msec": 1000, "usec": 1_000_000}[arg])
        return draw(st.sampled_from(VALUES[TIME]))
    if field == STATUS:
        return draw(st.sampled_from(["200", "200", "404", "500", "302", "999"]))
    if field == BYTES:
        return draw(st.sampled_from(["1234", "0", "-", "512", "x"]))
    if field == DURATION:
        return draw(st.sampled_from(["0.042", "0.5", "116075", "12", "-", "0.000040", "3"]))
    if field == VHOST:
        return draw(st.sampled_from(["a.example", "b.example:443", "a.example:8080", "c\u00e9"]))
    if field == HOST:
        return draw(st.sampled_from(["10.0.0.1", "10.0.0.2:52100", "[::1]:80", "h\u00e9"]))
    if field == REQUEST:
        return draw(st.sampled_from(VALUES[REQUEST]))
    return draw(st.sampled_from(VALUES.get(field, VALUES[SKIP])))


@st.composite
def timed_logs(draw: st.DrawFn, desc: Description) -> bytes:
    """A log of lines in the shape of `desc`, a little out of order, some late,
    some invalid, empty lines, CRLF, headers."""
    n = draw(st.integers(0, 50))
    spread = draw(st.sampled_from([0, 3, 20]))
    ts = BASE + draw(st.integers(0, 50))
    out: list[bytes] = []
    for _ in range(n):
        ts += draw(st.integers(0, 3))
        t = max(0, ts - draw(st.integers(0, spread))) if spread else ts
        if draw(st.integers(0, 30)) == 0:
            t += draw(st.sampled_from([1000, -1000]))
        parts = []
        for item in desc.items:
            if item.kind == LITERAL:
                parts.append(item.text)
                continue
            value = timed_value(item, t, draw)
            if item.kind == QUOTED and (value == "" or " " in value or draw(st.booleans())):
                value = '"' + value + '"'
            parts.append(value)
        raw = "".join(parts).encode()
        mutation = draw(st.integers(0, 14))
        if mutation == 1:
            raw = raw[: draw(st.integers(0, len(raw)))]
        elif mutation == 2:
            raw += b"\r"
        elif mutation == 3:
            raw = b""
        elif mutation == 4:
            raw = b'"remotehost","rfc931","authuser","date","request","status","bytes"'
        elif mutation == 5:
            at = draw(st.integers(0, len(raw)))
            raw = raw[:at] + draw(st.sampled_from([b"\xff", b'"', b" ", b"\\"])) + raw[at:]
        out.append(raw)
    data = b"\n".join(out)
    if out and draw(st.booleans()):
        data += b"\n"
    return data


chunkings = st.one_of(
    st.none(), st.lists(st.integers(1, 200), min_size=1, max_size=5), st.just([1])
)
options = st.fixed_dictionaries(
    {
        "interval": st.sampled_from([1, 3, 10]),
        "lateness": st.sampled_from([0, 2, 300]),
        "window": st.sampled_from([1, 5]),
        "threshold": st.sampled_from(["0", "1"]),
        "top": st.sampled_from([1, 5]),
    }
)
SHAPES = [*TEXT_PRESETS, VCOMBINED_D, NGINX_TIMED, "$time_iso8601 $status $request_time"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHAPES), st.booleans(), st.data(), chunkings, chunkings, options)
def test_native_equals_pure(
    how: str,
    xff: bool,
    data: st.DataObject,
    chunks: list[int] | None,
    native_chunks: list[int] | None,
    opts: dict[str, Any],
) -> None:
    fmt = formats.make(registered(how))
    assert isinstance(fmt, TextFormat)
    log = data.draw(timed_logs(fmt.desc))
    check_same(log, how=how, xff=xff and fmt.desc.has(XFF), chunks=chunks,
               native_chunks=native_chunks, rules_on=data.draw(st.booleans()), **opts)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(format_strings(), st.data(), chunkings, options)
def test_native_equals_pure_for_random_format_strings(
    desc: Description, data: st.DataObject, native_chunks: list[int] | None, opts: dict[str, Any]
) -> None:
    log = data.draw(timed_logs(desc))
    check_same(log, how=desc.source, native_chunks=native_chunks, rules_on=True, **opts)


def test_regression_corpus() -> None:
    for path in sorted(CORPUS.glob("*.json")):
        case = json.loads(path.read_text())
        check_same(
            base64.b64decode(case["data"]),
            how=case["how"],
            xff=case["xff"],
            chunks=case["chunks"] or None,
            native_chunks=case["native_chunks"] or None,
            rules_on=case["rules"],
            **case["opts"],
        )


def generated(lines: int, seed: int = 3) -> bytes:
    """vcombined + %D lines as the generator writes them (the benchmark's shape)."""
    from hitwatch import generate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.log"
        argv = ["--format", "vcombined", "--minutes", str(max(1, lines // 6000)), "--hosts", "300",
                "--sections", "20", "--paths", "30", "-o", str(path)]  # fmt: skip
        assert generate.main(argv) == 0
        data = path.read_bytes()
    del seed
    return data


@pytest.mark.parametrize("lateness", [0, 300])
def test_generated_vcombined_with_rules(lateness: int) -> None:
    """Several minutes of the benchmark's shape: intervals ranked in C, with their
    vhosts and latency; record logs for rules on vhosts and latency."""
    data = generated(20_000)
    out = check_same(data, how=VCOMBINED_D, native_chunks=[65536, 7, 100_000], rules_on=True,
                     lateness=lateness, threshold="1")  # fmt: skip
    stats = [json.loads(line) for line in out.splitlines() if '"type":"stats"' in line]
    assert stats and all("latency" in s and "vhosts" in s for s in stats if s["hits"])
    assert '"type":"alert"' in out


@pytest.mark.parametrize("specs", [(), LATENCY_RULES], ids=["built-in", "rules"])
def test_folded_recent_records_give_the_same_alerts(specs: Sequence[RuleSpec]) -> None:
    """The tally of recent records (what a busy server's are folded into) gives
    every firing the `top` its records give, from record logs and from columns."""
    data = generated(20_000)
    fmt = registered(VCOMBINED_D)
    pure = run(data, fmt=fmt, specs=specs, threshold="1")
    assert '"type":"alert"' in pure.out
    assert run(data, fmt=fmt, specs=specs, threshold="1", fold=True).out == pure.out
    folded = run(data, fmt=fmt, engine_name="native", via="file", specs=specs,
                 threshold="1", fold=True)  # fmt: skip
    assert folded.out == pure.out


def test_latency_of_many_equal_and_hostile_durations() -> None:
    """Nearest ranks by selection in C: ties, one value, a sorted run (a bad
    pivot for a naive quickselect), and the same again as counts to merge."""
    lines = []
    for i in range(3000):
        d = ["0.5", str(i), str(3000 - i), "7"][i // 750]
        lines.append(f'a.example 10.0.0.1 - - [{clf_time(BASE + i // 100)}] "GET / HTTP/1.1" 200 1 '
                     f'"-" "-" {d}')  # fmt: skip
    data = ("\n".join(lines) + "\n").encode()
    for lateness in (0, 5):
        check_same(data, how='%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %T',
                   native_chunks=[4096], lateness=lateness, interval=7)  # fmt: skip


# ---------------------------------------------------------- record logs


def test_record_logs_carry_vhosts_and_durations() -> None:
    name = registered(VCOMBINED_D)
    blob = native.description(name)
    assert blob is not None
    k = kernel().Kernel(kernel().DESC, 10, 0, -1, True, blob)
    data = (
        f'v.example:443 h - - [{clf_time(BASE)}] "GET /a/b HTTP/1.1" 404 1 "-" "-" 1500\n'
        f'w:80 - - - [{clf_time(BASE + 1)}] "-" 200 0 "-" "-" -\n'
        f'w:80 - - - [{clf_time(BASE - 10)}] "GET /late HTTP/1.1" 200 0 "-" "-" 1\n'
    ).encode()
    out = k.feed(data, 1, True, True)
    want = (
        [BASE, BASE + 1],
        ["/a", "(other)"],
        ["h", "-"],
        ["GET", "(other)"],
        ["404", "200"],
        ["v.example", "w"],
        [0.0015, None],
    )
    assert native.decode_records_full(out[18]) == want
    assert kernel().records_full(out[18]) == want
    assert native.decode_records(out[18]) == kernel().records_columns(out[18]) == want[:5]
    # CSV and CLF logs have neither column
    clf = kernel().Kernel(kernel().CLF, 10, 0, -1, True)
    log = clf.feed(f'h - - [{clf_time(BASE)}] "GET / HTTP/1.0" 200 1\n'.encode(), 1, True, True)[18]
    assert kernel().records_full(log)[5:] == (None, None)


head = struct.Struct("<qHHII")
flagged = st.tuples(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(100, 599),
    st.binary(max_size=8),
    st.binary(max_size=8),
    st.binary(max_size=8),
    st.none() | st.binary(max_size=8),
    st.none() | st.just(math.nan) | st.floats(allow_nan=False),
)


def pack_full(recs: Sequence[tuple[Any, ...]]) -> bytes:
    out = b""
    for t, status, m, s, h, v, d in recs:
        flags = (0x4000 if d is not None else 0) | (0x8000 if v is not None else 0)
        out += head.pack(t, status | flags, len(m), len(s), len(h))
        if d is not None:
            out += struct.pack("<d", d)
        if v is not None:
            out += struct.pack("<I", len(v))
        out += m + s + h + (v or b"")
    return out


def both_full(blob: bytes) -> Any:
    try:
        want: Any = native.decode_records_full(blob)
    except ValueError:
        with pytest.raises(ValueError):
            kernel().records_full(blob)
        with pytest.raises(ValueError):
            kernel().records_columns(blob)
        return ValueError
    got = kernel().records_full(blob)
    assert repr(got) == repr(want)  # NaN-free, but floats compared as written
    assert kernel().records_columns(blob) == native.decode_records(blob) == want[:5]
    return want


@settings(max_examples=300, deadline=None)
@given(st.lists(flagged, max_size=12), st.data())
def test_decoders_agree_on_flagged_logs(recs: list[tuple[Any, ...]], data: st.DataObject) -> None:
    blob = pack_full(recs)
    got = both_full(blob)
    assert got is not ValueError
    if any(r[5] is not None for r in recs):
        assert got[5] == [(r[5] or b"").decode("utf-8", "replace") for r in recs]
    cut_at = data.draw(st.integers(0, len(blob)))
    both_full(blob[:cut_at])
    if recs:
        bad = bytearray(blob)
        struct.pack_into("<H", bad, 8, data.draw(st.sampled_from([0x0400, 0x2000 | 200, 0xFFFF])))
        assert both_full(bytes(bad)) is ValueError


@settings(max_examples=300, deadline=None)
@given(
    st.lists(flagged.map(lambda r: (r[0] % 20, *r[1:])), max_size=12),
    st.integers(-2, 22),
    st.integers(-2, 22),
)
def test_decoders_agree_on_a_range_of_seconds(
    recs: list[tuple[Any, ...]], first: int, last: int
) -> None:
    """records_full(log, first, last): only the records with ts in [first, last],
    the columns vhosts and durations present as for the whole log."""
    blob = pack_full(recs)
    got = kernel().records_full(blob, first, last)
    want = native.decode_records_full(blob, first, last)
    assert repr(got) == repr(want)
    whole = native.decode_records_full(blob)
    rows = [i for i, t in enumerate(whole[0]) if first <= t <= last]
    assert got[0] == [whole[0][i] for i in rows]
    assert got[2] == [whole[2][i] for i in rows]
    assert (got[5] is None) == (whole[5] is None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoders_agree_on_any_bytes(blob: bytes) -> None:
    both_full(blob)


# ------------------------------------------------------------ real logs

REAL = [
    ("elastic-apache_logs.log", "common"),
    ("lnav-regexp_access_log.log", VCOMBINED_D),
    ("fail2ban-apache-fakegooglebot.log",
     '%h %l %u %l [%{%d/%b/%Y:%H:%M:%S}t ] %v "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'),
    ("crowdsec-bunkerweb-http-malformed.log",
     '$host $remote_addr - $request_id $remote_user [$time_local] "$request" $status '
     '$body_bytes_sent "$http_referer" "$http_user_agent"'),
    ("crowdsec-traefik_clf.log", "traefik-clf"),
    ("elastic-traefik-common.log", "traefik-clf"),
    ("crowdsec-nginx-proxy-manager.log",
     "[$time_local] $upstream_cache_status $upstream_status $status - $request_method "
     '$scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] '
     '[Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer"'),
    ("beats-nginx-test-with-host.log",
     '$host $remote_addr - $remote_user [$time_local] "$request" $status '
     '$body_bytes_sent "$http_referer" "$http_user_agent"'),
    ("matomo/common_complete.log", "vcombined"),
    ("matomo/common_encoding_big5.log", "vcombined"),
    ("matomo/common_vhost.log", "vcommon"),
    ("matomo/elb.log", "aws-elb"),
    ("matomo/gandi.log", '%v %h %l %u %t (%T s) "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'),
    ("matomo/haproxy.log", "haproxy"),
    ("matomo/icecast2.log", '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %T'),
]  # fmt: skip


def real_cases() -> list[tuple[str, str]]:
    """REAL, and every other file of test_realworld's table read by a text
    preset or format string (its users' way)."""
    out = list(REAL)
    try:
        from test_realworld import CASES
    except ImportError:  # pragma: no cover
        return out
    known = {f for f, _ in out}
    for case in CASES:
        if case.file in known or case.json:
            continue
        if case.how in formats.FORMATS and case.how not in TEXT_PRESETS:
            continue  # csv, clf, combined, JSON and W3C: not descriptions the kernel reads
        out.append((case.file, case.how))
    return out


@needs_data
@pytest.mark.parametrize(("file", "how"), real_cases(), ids=lambda x: str(x)[:40])
def test_real_logs_read_alike(file: str, how: str) -> None:
    path = REALWORLD / file
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = path.read_bytes()
    fmt = formats.make(registered(how))
    if not isinstance(fmt, TextFormat):
        pytest.skip(f"{how} is not a text format")
    for lateness in (0, 300):
        check_same(data, how=how, native_chunks=[4096, 7, 100_000], lateness=lateness)
        check_same(data, how=how, native_chunks=[997], rules_on=True, lateness=lateness)


def test_random_bytes_of_a_description(tmp_path: Path) -> None:
    rnd = random.Random(19)
    for _ in range(30):
        data = bytes(rnd.choice(b' "\\[]:-/0123456789aGET\n\xc3\xa9\xff') for _ in range(400))
        check_same(data, how=VCOMBINED_D, native_chunks=[rnd.randrange(1, 64)], lateness=2)


@pytest.mark.parametrize("chunks", [None, [1], [97]])
def test_no_vhosts_for_a_format_without_them(chunks: list[int] | None) -> None:
    """Regression (pure engine): a format with durations but no vhost reported
    vhosts [""] for the lines it fed record by record (before the timeline
    started, or with a late line in the batch), and none for the others."""
    how = "$time_iso8601 $status $request_time"
    lines = [f"{iso_time(BASE + s)} 200 0.5" for s in (*range(40), 3)]
    data = ("\n".join(lines) + "\n").encode()
    out = run(data, fmt=registered(how), chunks=chunks, lateness=2).out
    assert '"vhosts"' not in out and '"latency"' in out
    check_same(data, how=how, chunks=chunks, native_chunks=chunks, lateness=2)


def test_engine_native_refuses_a_description_the_kernel_declines() -> None:
    from hitwatch.readers import engine_problem

    declined = registered("%{%f%f%f%f%f %Y %b %d %H:%M}t %>s")
    assert native.format_code(declined) is None
    assert "does not parse" in str(engine_problem("native", declined))
    assert engine_problem("auto", declined) is None  # read by Python
    assert engine_problem("native", registered(VCOMBINED_D)) is None


def merged(tally: Any) -> Counter[tuple[Any, ...]]:
    """A tally's rows summed by their text (the kernel's may repeat one)."""
    out: Counter[tuple[Any, ...]] = Counter()
    for *key, n in zip(*tally, strict=True):
        out[tuple(key)] += n
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(flagged.map(lambda r: (r[0] % 4, *r[1:])), max_size=30),
    st.integers(-1, 4),
    st.integers(-1, 4),
    st.randoms(use_true_random=False),
)
def test_tallies_agree(
    recs: list[tuple[Any, ...]], first: int, last: int, rnd: random.Random
) -> None:
    """records_tally(log, first, last): the distinct records of the range and
    their counts, as the Python reference and as Recent.fold counted them."""
    recs = recs + [rnd.choice(recs) for _ in range(len(recs))]  # many repeated
    rnd.shuffle(recs)
    blob = pack_full(recs)
    got = kernel().records_tally(blob, first, last)
    want = native.tally_records(blob, first, last)
    assert merged(got) == merged(want)
    assert len(set(map(tuple, zip(*want[:6], strict=True)))) == len(want[0])
    ts, sections, hosts, methods, statuses, vhosts, _ = native.decode_records_full(blob)
    vh = vhosts if vhosts is not None else [""] * len(ts)
    rows = zip(ts, sections, hosts, methods, statuses, vh, strict=True)
    assert merged(want) == Counter(row for row in rows if first <= row[0] <= last)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_tallies_refuse_what_decoders_refuse(blob: bytes) -> None:
    try:
        native.decode_records_full(blob)
    except ValueError:
        with pytest.raises(ValueError):
            kernel().records_tally(blob)
        return
    assert merged(kernel().records_tally(blob)) == merged(native.tally_records(blob))
