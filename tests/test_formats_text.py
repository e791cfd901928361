"""The description parser: its regular expressions against the item-by-item rule
(`match_items`, the contract for C too), the block path against the line path,
and lines written in the shapes real servers write, edge cases included."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hitwatch import formats
from hitwatch.formats.base import MAX_LINE, decode_lines
from hitwatch.formats.compiler import FormatError, compile_format, compile_notation
from hitwatch.formats.describe import (
    BYTES,
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
from hitwatch.formats.text import TextFormat, lines_block, match_items

TS = 1_700_000_000  # 14/Nov/2023:22:13:20 +0000
STAMP = "14/Nov/2023:22:13:20 +0000"
NGINX = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time'
)
APACHE_VHOST_D = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'


def text_format(spec: str, xff: bool = False) -> TextFormat:
    return TextFormat("test", compile_format(spec), xff)


# ------------------------------------------------------------ lines we know


def test_nginx_line() -> None:
    fmt = text_format(NGINX)
    line = f'10.0.0.1 - - [{STAMP}] "GET /api/user?id=7 HTTP/1.1" 200 1234 "-" "curl/8.4.0" 0.042'
    assert fmt.parse_full(line) == (TS, 1234, "/api", "10.0.0.1", "200", "GET", "", 0.042)


def test_apache_vhost_and_microseconds() -> None:
    fmt = text_format(APACHE_VHOST_D)
    line = (
        f'www.example.com:443 10.0.0.1 - - [{STAMP}] "POST /login HTTP/2.0" 302 - '
        '"https://www.example.com/" "Mozilla/5.0 (X11)" 116075'
    )
    row = fmt.parse_full(line)
    assert row == (TS, 0, "/login", "10.0.0.1", "302", "POST", "www.example.com", 0.116075)


@pytest.mark.parametrize(
    ("request_text", "method", "section"),
    [
        ("GET /a\\x22b HTTP/1.1", "GET", "/a\\x22b"),  # nginx escapes a quote as \x22
        ('GET /a\\"b HTTP/1.1', "GET", '/a\\"b'),  # Apache as \"
        ("\\x16\\x03\\x01\\x01 \\x02", "(other)", "(other)"),  # TLS bytes, as nginx writes them
        ("-", "(other)", "(other)"),
        ("", "(other)", "(other)"),
        ("<SCRIPT>X</SCRIPT> / HTTP/1.1", "(other)", "(other)"),
        ("GET http://example.com/x/y?q HTTP/1.1", "GET", "/x"),
    ],
)
def test_quoted_requests(request_text: str, method: str, section: str) -> None:
    fmt = text_format(NGINX)
    line = f'10.0.0.1 - - [{STAMP}] "{request_text}" 400 0 "-" "-" 0.000'
    row = fmt.parse_full(line)
    assert not isinstance(row, str), row
    assert (row[5], row[2]) == (method, section)
    # the same through the block path
    block = fmt.parse(decode_lines((line + "\n").encode() * 3))
    assert block.methods == [method] * 3 and block.sections == [section] * 3


def test_a_quoted_field_may_be_a_bare_dash() -> None:
    # Traefik writes an empty referer as - without quotes
    fmt = formats.make("traefik-clf")
    line = (
        f'10.0.0.1 - - [{STAMP}] "GET /en/ HTTP/2.0" 200 2814 - "Mozilla/5.0 (iPhone)" 13 '
        '"web@docker" "http://172.19.0.6:80" 247ms'
    )
    assert fmt.parse_line(line) == (TS, 2814, "/en", "10.0.0.1", "200", "GET")


def test_durations() -> None:
    fmt = text_format(NGINX)
    base = f'10.0.0.1 - - [{STAMP}] "GET / HTTP/1.1" 200 1 "-" "-" '
    for text, seconds in [("0.042", 0.042), ("-", None), ("12", 12.0), ("1,2", None)]:
        row = fmt.parse_full(base + text)
        assert not isinstance(row, str) and row[7] == seconds, text
    upstream = text_format("[$time_local] $status $upstream_response_time")
    assert upstream.parse_full(f"[{STAMP}] 200 0.151")[7] == 0.151  # type: ignore[index]
    assert upstream.parse_full(f"[{STAMP}] 200 -")[7] is None  # type: ignore[index]
    apache = text_format("%t %>s %D %{ms}T")
    assert apache.parse_full(f"[{STAMP}] 200 1500 3")[7] == 0.0015 + 0.003  # type: ignore[index]


def test_forwarded_for() -> None:
    spec = '$remote_addr [$time_local] "$request" $status "$http_x_forwarded_for"'
    line = f'10.0.0.1 [{STAMP}] "GET / HTTP/1.1" 200 "203.0.113.7, 10.0.0.2"'
    assert text_format(spec).parse_line(line)[3] == "10.0.0.1"  # type: ignore[index]
    assert text_format(spec, xff=True).parse_line(line)[3] == "203.0.113.7"  # type: ignore[index]
    dash = line.replace('"203.0.113.7, 10.0.0.2"', '"-"')
    assert text_format(spec, xff=True).parse_line(dash)[3] == "10.0.0.1"  # type: ignore[index]
    block = text_format(spec, xff=True).parse(decode_lines(f"{line}\n{dash}\n".encode()))
    assert block.hosts == ["203.0.113.7", "10.0.0.1"]


def test_ports_are_dropped_where_the_preset_says() -> None:
    fmt = formats.make("aws-elb")
    line = PRESETS["aws-elb"].example[0].replace("10.0.0.1:52100", "[2001:db8::7]:52100")
    row = fmt.parse_line(line)
    assert not isinstance(row, str) and row[3] == "2001:db8::7"
    vcommon = formats.make("vcommon")
    for vhost in ("www.example.com:443", "www.example.com"):
        line = f'{vhost} 10.0.0.1 - - [{STAMP}] "GET / HTTP/1.1" 200 5'
        block = vcommon.parse(decode_lines((line + "\n").encode()))  # type: ignore[arg-type]
        assert block.vhosts == ["www.example.com"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("10.0.0.1 - - [14/Nov/2023:22:13:20 +0000]", "not a test line"),
        (
            f'10.0.0.1 - - [{STAMP.replace("Nov", "Foo")}] "GET / HTTP/1.1" 200 1 "-" "-" 1',
            "bad timestamp",
        ),
        (f'10.0.0.1 - - [{STAMP}] "GET / HTTP/1.1" 999 1 "-" "-" 1', "bad status"),
        (f'10.0.0.1 - - [{STAMP}] "GET / HTTP/1.1" 200 x1 "-" "-" 1', "bad bytes"),
        (f'10.0.0.1 - - [{STAMP}] "GET / HTTP/1.1 200 1 "-" "-" 1', "not a test line"),
    ],
)
def test_invalid_lines_say_why(line: str, reason: str) -> None:
    assert text_format(NGINX).parse_full(line) == reason


def test_times() -> None:
    iso = text_format("$time_iso8601 $status")
    assert iso.parse_line("2023-11-14T23:13:20+01:00 200")[0] == TS  # type: ignore[index]
    msec = text_format("$msec $status")
    assert msec.parse_line("1700000000.123 200")[0] == TS  # type: ignore[index]
    strf = text_format("%{%Y-%m-%d %H:%M:%S}t %s")
    assert strf.parse_line("2023-11-14 22:13:20 200")[0] == TS  # type: ignore[index]
    assert strf.parse_line("2023-02-29 22:13:20 200") == "bad timestamp"
    haproxy = formats.make("haproxy")
    assert haproxy.parse_line(PRESETS["haproxy"].example[0])[0] == TS  # type: ignore[index]


HAPROXY = (
    "Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] "
    "http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {captures}"
    '"GET /index.html HTTP/1.1"'
)


@pytest.mark.parametrize(
    "captures", ["", "{1wt.eu} ", "{1wt.eu} {} ", "{1wt.eu|Mozilla/5.0 (X11; Linux)} {#22x#22} "]
)
def test_haproxy_captured_headers_come_before_the_request(captures: str) -> None:
    """`capture request/response header` adds `{...}` blocks before the request
    (HAProxy escapes `"` in them as #22): the request is still the quoted one."""
    row = formats.make("haproxy").parse_full(HAPROXY.format(captures=captures))
    assert row == (1233922454, 2750, "/index.html", "10.0.1.2", "200", "GET", "", 0.109)


def test_quotes_after_a_field_of_no_width_stay_literals() -> None:
    """`{skip}"{request}"`: a quoted field right after a field of no width
    could not be told apart from it; the quotes stay in the literals, and
    the field before runs to the opening one (as `%^"%r"` does in GoAccess)."""
    desc = compile_notation('{time:sec} {status} {skip}"{request}"')
    assert [(i.kind, i.text) for i in desc.items[-4:]] == [
        (FIELD, ""), (LITERAL, '"'), (FIELD, ""), (LITERAL, '"'),
    ]  # fmt: skip
    row = TextFormat("t", desc).parse_full('1700000000 200 a b {c} "GET /x/y HTTP/1.1"')
    assert row[2] == "/x" and row[5] == "GET"  # type: ignore[index]
    with pytest.raises(FormatError, match="cannot be told apart"):
        compile_notation('{time:sec} {status} {skip}{request}"')


def test_block_with_empty_lines_headers_crlf_and_overlong() -> None:
    fmt = text_format(NGINX)
    line = f'10.0.0.1 - - [{STAMP}] "GET / HTTP/1.1" 200 1 "-" "-" 0.5'
    long = line + " " + "x" * MAX_LINE
    data = f"{line}\r\n\r\n{line}\n{long}\n".encode() + b"\xff" + line.encode() + b"\n"
    block = fmt.parse(decode_lines(data))
    assert len(block.ts) == 3 and block.empty == 1
    assert [(n, why) for _, n, why in block.invalid] == [(4, "line longer than 64 KiB")]
    assert block.hosts[2] == "\ufffd10.0.0.1"  # bytes that are not UTF-8 stay a record
    assert block.durations == [0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    "line",
    [
        "v:pppp",
        "v:p hhhh",
        "v:p h - -",
        f"v:p h - - [{STAMP}] 200",
        "v h - -",
        "v:p h - - [x",
        "no-space",
    ],
)
def test_lines_that_never_close_a_run_stay_linear(line: str) -> None:
    # As tests/test_formats.py's test of the same name, for a format string:
    # each line opens a run that no line closes before the last one.
    fmt = text_format(APACHE_VHOST_D)
    text = decode_lines("\n".join([line] * 100_000 + ['v:p h - - [ ] " " 1 2 " " " " 3']).encode())
    block = fmt.parse(text)
    assert block == lines_block(fmt, text) and len(block.invalid) == 100_001


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_reads_its_example(name: str) -> None:
    fmt = formats.make(name)
    lines = list(PRESETS[name].example)
    block = fmt.parse(decode_lines(("\n".join(lines) + "\n").encode()))
    assert len(block.ts) == 1 and not block.invalid, block
    assert block.ts == [TS] and block.statuses == ["200"]
    assert block.sections == ["/api"] and block.methods == ["GET"]
    assert block.hosts == ["10.0.0.1"]
    assert len(block.vhosts) in (0, 1) and len(block.durations) in (0, 1)


# ------------------------------------------------------- the rule and the regexes

_FIELDS = [SKIP, HOST, TIME, REQUEST, METHOD, TARGET, STATUS, BYTES, VHOST, DURATION, XFF]
_ALPHABET = ' "\\-[]:/.0123456789aGET'


@st.composite
def descriptions(draw: Any) -> Description:
    """Descriptions as the compiler makes them: fields apart by literals, except
    after a field with a width; a time and a status; each field code once."""
    n = draw(st.integers(1, 6))
    fields = [TIME, STATUS, *draw(st.lists(st.sampled_from(_FIELDS), max_size=n))]
    fields = list(dict.fromkeys(fields))
    draw(st.randoms()).shuffle(fields)
    items: list[Item] = []
    if draw(st.booleans()):
        items.append(Item(LITERAL, SKIP, draw(st.text(_ALPHABET, min_size=1, max_size=3))))
    for i, field in enumerate(fields):
        kind = QUOTED if draw(st.booleans()) else FIELD
        arg = {TIME: "sec", DURATION: "ms"}.get(field, "")
        items.append(Item(kind, field, arg))
        if i + 1 < len(fields) or draw(st.booleans()):
            items.append(Item(LITERAL, SKIP, draw(st.text(_ALPHABET, min_size=1, max_size=3))))
    return Description(tuple(items))


def render(desc: Description, values: list[str]) -> str:
    out = []
    it = iter(values)
    for item in desc.items:
        if item.kind == LITERAL:
            out.append(item.text)
        else:
            value = next(it)
            out.append(f'"{value}"' if item.kind == QUOTED and value.startswith('"') else value)
    return "".join(out)


values = st.sampled_from(["1700000000", "200", "-", "GET / HTTP/1.1", "a b", '"x"', "", "7.5"])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(descriptions(), st.data())
@example(
    Description((Item(FIELD, TIME, "sec"), Item(LITERAL, SKIP, " "), Item(QUOTED, STATUS))),
    None,
)
def test_the_regexes_follow_the_rule(desc: Description, data: Any) -> None:
    fmt = TextFormat("test", desc)
    lines = ["", "1700000000 200", '1700000000 "200"', '1700000000 "2\\"00"', '"']
    if data is not None:
        nfields = sum(item.kind != LITERAL for item in desc.items)
        lines.append(render(desc, data.draw(st.lists(values, min_size=nfields, max_size=nfields))))
        lines.append(data.draw(st.text(_ALPHABET, max_size=30)))
    for line in lines:
        got, matched = match_items(desc.items, line)
        m = fmt._line.match(line)
        assert (m is not None) == (matched == len(desc.items)), (desc.notation(), line)
        if m is not None:
            used = [
                v
                for v, item in zip(got, [i for i in desc.items if i.kind != LITERAL], strict=True)
                if item.field != SKIP
            ]
            by_regex = fmt.values(line)
            assert by_regex is not None
            flat = [v for field, _ in fmt._groups for v in [by_regex[field].pop(0)]]
            assert flat == used, (desc.notation(), line)
        # the block path reads every line as the line path does
        text = decode_lines((line + "\n" + line + "\n").encode())
        assert fmt.parse(text) == lines_block(fmt, text), (desc.notation(), line)
    # and a block of all of them, where a match may run on into the next line
    text = decode_lines("\n".join(lines).encode())
    assert fmt.parse(text) == lines_block(fmt, text), desc.notation()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
@example("%{")
@example("${")
@example("%{%")
@example("$a$b")
def test_compiling_anything_refuses_or_works(text: str) -> None:
    try:
        desc = compile_format(text)
    except FormatError as exc:
        assert "\n" not in str(exc)
        return
    fmt = TextFormat("test", desc)
    assert isinstance(fmt.parse_full(text), tuple | str)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(PRESETS)), st.text(max_size=200), st.binary(max_size=100))
def test_presets_never_raise_on_any_line(name: str, text: str, raw: bytes) -> None:
    fmt = formats.make(name)
    example = PRESETS[name].example[-1]
    cut = len(text) % (len(example) + 1)
    for line in (text, example[:cut] + text, raw.decode("utf-8", "replace")):
        row = fmt.parse_line(line)  # type: ignore[attr-defined]
        assert isinstance(row, tuple | str)
    data = "\n".join([example, text, example[:cut]]).encode() + b"\n" + raw
    fmt.parse(decode_lines(data))
