"""Parsing (SPEC §1): CSV, CLF and Combined lines, sections, methods, edge bytes.

Every case goes through both the fast block `parse` and the line-at-a-time
reference `parse_lines`, which must agree exactly.
"""

from __future__ import annotations

from calendar import timegm

import pytest

from conftest import CSV_HEADER, csv_line, run_bytes
from hitwatch import native
from hitwatch.formats import detect, make
from hitwatch.formats.base import decode_lines, parse_lines, section_of
from hitwatch.formats.clf import parse_time
from hitwatch.model import MAX_LINE, Block, Row
from hitwatch.sources import split_blocks

STAMP = "07/Feb/2019:21:11:00 +0000"
TS = 1549573860  # STAMP as Unix seconds
UA = "Mozilla/5.0 (X11; Linux x86_64)"


def clf_line(
    stamp: str = STAMP,
    request: str = "GET /api/user HTTP/1.0",
    status: str = "200",
    size: str = "1234",
    host: str = "10.0.0.1",
    tail: str = "",
) -> str:
    return f'{host} - frank [{stamp}] "{request}" {status} {size}{tail}'


def combined_line(request: str = "GET /api/user HTTP/1.0", **kw: str) -> str:
    return clf_line(request=request, tail=f' "http://example.com/" "{UA}"', **kw)


def both(fmt: str, data: bytes | str) -> Block:
    """Parse a block both ways; they must agree. Returns the block."""
    raw = data.encode() if isinstance(data, str) else data
    text = decode_lines(raw)
    fast = make(fmt).parse(text)
    reference = parse_lines(make(fmt), decode_lines(raw))
    assert fast == reference
    # Also inside a block of valid lines, where the fast path is tried first.
    good = (csv_line(TS) if fmt == "csv" else combined_line()).encode()
    padded = b"\n".join([good] * 5) + b"\n" + raw + (b"" if raw.endswith(b"\n") else b"\n")
    padded += b"\n".join([good] * 5) + b"\n"
    assert make(fmt).parse(decode_lines(padded)) == parse_lines(make(fmt), decode_lines(padded))
    return fast


def one(fmt: str, line: str | bytes) -> Row | str:
    """The row of a single line, or the reason it is invalid."""
    block = both(fmt, line)
    assert block.lines == 1
    if block.invalid:
        assert not block.ts
        ((pos, lineno, reason),) = block.invalid
        assert (pos, lineno) == (0, 1)
        return reason
    (row,) = block.rows
    return row


def invalid(fmt: str, line: str | bytes) -> str:
    got = one(fmt, line)
    assert isinstance(got, str), f"expected invalid, got {got}"
    return got


def valid(fmt: str, line: str | bytes) -> Row:
    got = one(fmt, line)
    assert not isinstance(got, str), f"expected a record, got {got!r}"
    return got


# ------------------------------------------------------------------ CLF


def test_clf_record_fields() -> None:
    assert valid("clf", clf_line()) == (TS, 1234, "/api", "10.0.0.1", "200", "GET")


@pytest.mark.parametrize(
    ("stamp", "utc"),
    [
        ("10/Oct/2000:13:55:36 -0700", (2000, 10, 10, 20, 55, 36)),
        ("10/Oct/2000:13:55:36 +0530", (2000, 10, 10, 8, 25, 36)),
        ("01/Jan/2020:02:00:00 +0300", (2019, 12, 31, 23, 0, 0)),
        ("31/Dec/2019:22:30:00 -0145", (2020, 1, 1, 0, 15, 0)),
        ("29/Feb/2020:00:00:00 +0000", (2020, 2, 29, 0, 0, 0)),
        ("29/Feb/2000:12:00:00 +0000", (2000, 2, 29, 12, 0, 0)),
        ("01/Jan/1970:00:00:00 +0000", (1970, 1, 1, 0, 0, 0)),
    ],
)
def test_clf_offsets_are_converted_to_utc(stamp: str, utc: tuple[int, ...]) -> None:
    assert parse_time(stamp) == timegm(utc)
    assert valid("clf", clf_line(stamp=stamp))[0] == timegm(utc)


@pytest.mark.parametrize(
    "stamp",
    [
        "31/Feb/2019:10:00:00 +0000",
        "30/Feb/2020:10:00:00 +0000",
        "29/Feb/2019:10:00:00 +0000",
        "29/Feb/2100:10:00:00 +0000",
        "31/Apr/2019:10:00:00 +0000",
        "00/Jan/2019:10:00:00 +0000",
        "32/Jan/2019:10:00:00 +0000",
        "07/Feb/2019:24:00:00 +0000",
        "07/Feb/2019:23:60:00 +0000",
        "07/Feb/2019:23:59:60 +0000",
        "07/Foo/2019:10:00:00 +0000",
        "07/feb/2019:10:00:00 +0000",
        "7/Feb/2019:10:00:00 +0000",
        "07/Feb/2019:10:00:00",
        "07/Feb/2019:10:00:00 0000",
        "07/Feb/2019:10:00:00 +00:00",
        "07/Feb/2019:10:00:00 +2400",
        "07/Feb/2019 10:00:00 +0000",
        "",
        "2019-02-07T10:00:00Z",
        "01/Jan/1970:00:00:00 +0100",
    ],
)
def test_clf_bad_dates_are_invalid(stamp: str) -> None:
    assert parse_time(stamp) == -1
    assert invalid("clf", clf_line(stamp=stamp)) == "bad timestamp"


def test_clf_status_and_bytes() -> None:
    assert valid("clf", clf_line(size="-"))[1] == 0
    assert valid("clf", clf_line(status="100"))[4] == "100"
    assert valid("clf", clf_line(status="599"))[4] == "599"
    assert valid("clf", clf_line(size="0"))[1] == 0
    assert valid("clf", clf_line(size="9" * 15))[1] == 10**15 - 1
    for status in ("099", "600", "20", "2000", "abc", "-", "２００", "+20"):
        assert invalid("clf", clf_line(status=status)) == "bad status", status
    for size in ("abc", "-1", "1.5", "9" * 16, "１２", "--", '1x"'):
        assert invalid("clf", clf_line(size=size)) == "bad bytes", size


def test_clf_wrong_shapes_are_invalid() -> None:
    reason = "not a Common/Combined Log Format line"
    for line in (
        "just some text",
        f'10.0.0.1 - - [{STAMP}] "GET / HTTP/1.0" 200',  # no bytes
        f'10.0.0.1 - [{STAMP}] "GET / HTTP/1.0" 200 1',  # a field missing
        f'10.0.0.1 - - {STAMP} "GET / HTTP/1.0" 200 1',  # no brackets
        f"10.0.0.1 - - [{STAMP}] GET / HTTP/1.0 200 1",  # no quotes
        f'10.0.0.1 - - [{STAMP}] "GET / HTTP/1.0 200 1',  # unterminated request
        f'10.0.0.1 - - [{STAMP}] "GET / HTTP/1.0"  200 1',
        csv_line(TS),
    ):
        assert invalid("clf", line) == reason, line


def test_clf_escaped_quotes_in_the_request() -> None:
    row = valid("clf", clf_line(request='GET /a\\"b/c HTTP/1.1'))
    assert row[2] == '/a\\"b'  # not unescaped
    assert row[5] == "GET"
    # An escaped quote followed by a space does not end the request.
    row = valid("clf", clf_line(request='GET /x\\" 200 5 HTTP/1.1'))
    assert (row[1], row[4], row[5], row[2]) == (1234, "200", "(other)", "(other)")
    row = valid("clf", clf_line(request="GET /back\\\\slash HTTP/1.1"))
    assert row[2] == "/back\\\\slash"


def test_combined_fields_are_optional_and_may_be_cut_short() -> None:
    full = valid("combined", combined_line())
    assert full == (TS, 1234, "/api", "10.0.0.1", "200", "GET")
    assert valid("combined", clf_line()) == full
    cut = clf_line(tail=' "http://example.com/" "Mozilla/5.0 (X11; Lin')
    assert valid("combined", cut) == full
    assert valid("combined", clf_line(tail=' "http://exam')) == full
    assert valid("combined", clf_line(tail=" ")) == full
    extra = combined_line() + ' "more" 12345 trailing fields'
    assert valid("combined", extra) == full
    escaped = clf_line(tail=' "-" "agent with \\"quotes\\" inside"')
    assert valid("combined", escaped) == full


def test_clf_host_is_any_non_space_run() -> None:
    assert valid("clf", clf_line(host="2001:db8::1"))[3] == "2001:db8::1"
    assert valid("clf", clf_line(host="example.com"))[3] == "example.com"


# ------------------------------------------------------------------ CSV


def test_csv_record_fields() -> None:
    assert valid("csv", csv_line(TS)) == (TS, 100, "/api", "10.0.0.1", "200", "GET")


def test_csv_rfc4180_quoting() -> None:
    quoted_quote = f'"a""b","-","apache",{TS},"GET /x HTTP/1.0",200,1'
    assert valid("csv", quoted_quote)[3] == 'a"b'
    comma = f'"10.0.0.1","-","apache",{TS},"GET /a,b/c HTTP/1.0",200,1'
    assert valid("csv", comma)[2] == "/a,b"
    unquoted = f"10.0.0.1,-,apache,{TS},GET /api/user HTTP/1.0,200,1234"
    assert valid("csv", unquoted) == (TS, 1234, "/api", "10.0.0.1", "200", "GET")
    numbers = f'"10.0.0.1","-","apache","{TS}","GET /api/user HTTP/1.0","200","1234"'
    assert valid("csv", numbers) == (TS, 1234, "/api", "10.0.0.1", "200", "GET")
    mixed = f'10.0.0.1,"-",apache,"{TS}",GET /api/user HTTP/1.0,"200",-'
    assert valid("csv", mixed) == (TS, 0, "/api", "10.0.0.1", "200", "GET")
    empty_fields = f',,,{TS},"GET / HTTP/1.0",200,'
    assert invalid("csv", empty_fields) == "bad bytes"
    empty_host = f',,,{TS},"GET / HTTP/1.0",200,-'
    assert valid("csv", empty_host) == (TS, 0, "/", "", "200", "GET")
    only_quotes = f'"""",-,-,{TS},"GET / HTTP/1.0",200,1'
    assert valid("csv", only_quotes)[3] == '"'


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (f'"10.0.0.1","-","apache",{TS},"GET / HTTP/1.0",200', "6 CSV fields, expected 7"),
        (f'"10.0.0.1","-","apache",{TS},"GET / HTTP/1.0",200,1,x', "8 CSV fields, expected 7"),
        ("one field", "1 CSV fields, expected 7"),
        (f'"10.0.0.1,"-","apache",{TS},"GET / HTTP/1.0",200,1', "broken CSV quoting"),
        (f'"10.0.0.1"x,"-","apache",{TS},"GET / HTTP/1.0",200,1', "broken CSV quoting"),
        (f'"10.0.0.1","-","apache",{TS},"GET / HTTP/1.0,200,1', "broken CSV quoting"),
        ('"10.0.0.1","-","apache",abc,"GET / HTTP/1.0",200,1', "bad date"),
        ('"10.0.0.1","-","apache",-1,"GET / HTTP/1.0",200,1', "bad date"),
        ('"10.0.0.1","-","apache",1549573860.5,"GET / HTTP/1.0",200,1', "bad date"),
        ('"10.0.0.1","-","apache",0001549573860,"GET / HTTP/1.0",200,1', "bad date"),
        ('"10.0.0.1","-","apache",999999999999,"GET / HTTP/1.0",200,1', "bad date"),
        ('"10.0.0.1","-","apache",,"GET / HTTP/1.0",200,1', "bad date"),
        ('"10.0.0.1","-","apache","","GET / HTTP/1.0",200,1', "bad date"),
        (f'"10.0.0.1","-","apache",{TS},"GET / HTTP/1.0",600,1', "bad status"),
        (f'"10.0.0.1","-","apache",{TS},"GET / HTTP/1.0",99,1', "bad status"),
        (f'"10.0.0.1","-","apache",{TS},"GET / HTTP/1.0",200 ,1', "bad status"),
        (f'"10.0.0.1","-","apache",{TS},"GET / HTTP/1.0",200,x', "bad bytes"),
        (f'"10.0.0.1","-","apache",{TS},"GET / HTTP/1.0",200,"-1"', "bad bytes"),
    ],
)
def test_csv_invalid_lines(line: str, reason: str) -> None:
    assert invalid("csv", line) == reason


def test_csv_bytes_dash_is_zero() -> None:
    assert valid("csv", csv_line(TS, size="-"))[1] == 0


def test_csv_date_limits() -> None:
    assert valid("csv", csv_line(0))[0] == 0
    assert valid("csv", csv_line(253402300799))[0] == 253402300799  # 9999-12-31T23:59:59Z
    assert invalid("csv", csv_line(253402300800)) == "bad date"


# ------------------------------------------------- sections and methods


@pytest.mark.parametrize(
    ("request_line", "method", "section"),
    [
        ("GET /api/user HTTP/1.0", "GET", "/api"),
        ("GET /api/ HTTP/1.0", "GET", "/api"),
        ("GET /api HTTP/1.0", "GET", "/api"),
        ("GET / HTTP/1.0", "GET", "/"),
        ("GET /api/user?id=1/2 HTTP/1.1", "GET", "/api"),
        ("GET /api?x=/y HTTP/1.1", "GET", "/api"),
        ("GET /?q=1 HTTP/1.1", "GET", "/"),
        ("GET /a#frag/x HTTP/1.1", "GET", "/a"),
        ("GET /%7Euser/x HTTP/1.1", "GET", "/%7Euser"),
        ("GET http://h/x/y?q HTTP/1.1", "GET", "/x"),
        ("GET https://h.example:8443/x HTTP/1.1", "GET", "/x"),
        ("GET http://user@h/x HTTP/1.1", "GET", "/x"),
        ("GET http://h/ HTTP/1.1", "GET", "/"),
        ("GET http://h HTTP/1.1", "GET", "(other)"),
        ("GET http://h?q=/a/b HTTP/1.1", "GET", "(other)"),
        ("GET http://h#/a/b HTTP/1.1", "GET", "(other)"),
        ("OPTIONS * HTTP/1.1", "OPTIONS", "(other)"),
        ("GET nopath HTTP/1.1", "GET", "(other)"),
        ("CONNECT h.example:443 HTTP/1.1", "CONNECT", "(other)"),
        ("GET ?q HTTP/1.1", "GET", "(other)"),
        ("get /x HTTP/1.1", "get", "/x"),
        ("GET /a", "GET", "/a"),
        ("GET /a ", "GET", "/a"),
        ("GET /a HTTP/1.1 extra", "(other)", "(other)"),
        ("GET  /a HTTP/1.1", "(other)", "(other)"),
        (" GET /a", "(other)", "(other)"),
        ("-", "(other)", "(other)"),
        ("", "(other)", "(other)"),
        ("GET", "(other)", "(other)"),
        ("\\x16\\x03\\x01\\x00\\xa5\\x01\\x00\\x00\\xa1\\x03\\x03", "(other)", "(other)"),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "clf"])
def test_method_and_section(fmt: str, request_line: str, method: str, section: str) -> None:
    line = csv_line(TS, request=request_line) if fmt == "csv" else clf_line(request=request_line)
    row = valid(fmt, line)
    assert (row[5], row[2]) == (method, section)


def test_section_of_directly() -> None:
    assert section_of("*") == "(other)"
    assert section_of("") == "(other)"
    assert section_of("/") == "/"
    assert section_of("/a/b/c") == "/a"


def test_tls_bytes_sent_to_a_plain_http_port() -> None:
    # Raw bytes, as some servers log them: control characters, invalid UTF-8.
    garbage = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xd4\x1a"
    line = b'"10.0.0.9","-","-",1549573860,"' + garbage + b'",400,0'
    assert valid("csv", line) == (TS, 0, "(other)", "10.0.0.9", "400", "(other)")
    line = b"10.0.0.9 - - [" + STAMP.encode() + b'] "' + garbage + b'" 400 -'
    assert valid("clf", line) == (TS, 0, "(other)", "10.0.0.9", "400", "(other)")


# ------------------------------------------------------ lines and bytes


@pytest.mark.parametrize("fmt", ["csv", "clf"])
def test_empty_lines_and_headers_are_skipped(fmt: str) -> None:
    good = csv_line(TS) if fmt == "csv" else combined_line()
    unquoted_header = "remotehost,rfc931,authuser,date,request,status,bytes"
    data = "\n".join(["", CSV_HEADER, good, "", good, CSV_HEADER, unquoted_header, ""]) + "\n"
    block = both(fmt, data)
    assert (block.lines, len(block.ts), block.empty, block.headers, block.invalid) == (
        8,
        2,
        3,
        3,
        [],
    )
    # A header that is not exactly the header is an invalid line.
    assert invalid("csv", CSV_HEADER + " ")
    assert invalid("csv", CSV_HEADER.upper())


@pytest.mark.parametrize("fmt", ["csv", "clf"])
def test_crlf_line_endings(fmt: str) -> None:
    good = csv_line(TS) if fmt == "csv" else combined_line()
    lf = both(fmt, f"{CSV_HEADER}\n{good}\n\n{good}\n")
    crlf = both(fmt, f"{CSV_HEADER}\r\n{good}\r\n\r\n{good}\r\n")
    assert crlf == lf
    assert (crlf.headers, crlf.empty, len(crlf.ts)) == (1, 1, 2)
    # A CR inside a line is content, not a line break.
    assert decode_lines(b"a\rb\r\n").lines == ["a\rb"]


def test_only_newline_ends_a_line() -> None:
    for sep in ("\u2028", "\x0b", "\x0c", "\x1c", "\x85"):
        line = csv_line(TS, request=f"GET /a{sep}b HTTP/1.0")
        assert valid("csv", line)[2] == f"/a{sep}b"
        assert len(decode_lines((line + "\n" + line).encode()).lines) == 2


@pytest.mark.parametrize(
    ("fmt", "line"),
    [
        ("clf", "y" * 40),  # no space: where the first field ends
        ("clf", "10.0.0.1 - - [07/Feb/2019:21:11:00"),  # no `]`
        ("clf", '10.0.0.1 - - [07/Feb/2019:21:11:00 +0000] "GET /a'),  # no closing quote
        ("csv", '"10.0.0.1'),  # no closing quote
        ("csv", "10.0.0.1,-,-"),  # no quote
    ],
)
def test_lines_that_never_close_a_run_stay_linear(fmt: str, line: str) -> None:
    # The block patterns scan runs of characters, some across newlines (the
    # note above base.fast_request). Here no line has what would end the run it
    # starts: were any run scanned from every line on to the end of the block,
    # this block would take minutes, not milliseconds.
    # The last line ends every run, but no match: each would fail there.
    block = both(fmt, "\n".join([line] * 40_000 + ['x x - [ ] " " ] "," "']))
    assert len(block.invalid) == 40_001


@pytest.mark.parametrize("fmt", ["csv", "clf"])
def test_bytes_that_are_not_utf8(fmt: str) -> None:
    host = b"10.0.0.\xff\xfe"
    if fmt == "csv":
        line = b'"' + host + b'","-","apache",1549573860,"GET /caf\xe9 HTTP/1.0",200,5'
    else:
        line = host + b" - - [" + STAMP.encode() + b'] "GET /caf\xe9 HTTP/1.0" 200 5 "\xc3" "\xff"'
    row = valid(fmt, line)
    assert row == (TS, 5, "/caf\ufffd", "10.0.0.\ufffd\ufffd", "200", "GET")


@pytest.mark.parametrize("fmt", ["csv", "clf"])
def test_a_line_of_64_kib_is_valid_and_longer_is_invalid(fmt: str) -> None:
    def line_of(size: int) -> bytes:
        base = csv_line(TS, request="GET /x HTTP/1.0") if fmt == "csv" else clf_line()
        pad = size - len(base.encode())
        if fmt == "csv":
            return csv_line(TS, request="GET /x" + "y" * pad + " HTTP/1.0").encode()
        return clf_line(tail=" " + "z" * (pad - 1)).encode()

    exact = line_of(MAX_LINE)
    assert len(exact) == 65536
    assert valid(fmt, exact)
    assert valid(fmt, exact + b"\r")  # the CR of CRLF is not part of the line
    over = line_of(MAX_LINE + 1)
    assert invalid(fmt, over) == "line longer than 64 KiB"
    # Multi-byte characters: bytes count, not characters.
    wide = line_of(MAX_LINE - 3 * 3000)
    wide = wide.replace(b"GET /", b"GET /" + "\u20ac".encode() * 3000, 1)
    assert len(wide) == MAX_LINE
    assert valid(fmt, wide)
    assert invalid(fmt, wide.replace(b"GET /", b"GET /x", 1)) == "line longer than 64 KiB"


@pytest.mark.parametrize("chunk", [1000, 4096, 70_000, 1 << 20])
def test_overlong_line_through_the_reader(chunk: int) -> None:
    long = csv_line(TS, request="GET /" + "a" * 200_000 + " HTTP/1.0")
    base = len(csv_line(TS, request="GET / HTTP/1.0"))
    exact = csv_line(TS, request="GET /" + "b" * (MAX_LINE - base) + " HTTP/1.0")
    assert len(exact) == MAX_LINE
    data = "\n".join([CSV_HEADER, csv_line(TS), long, exact, long, csv_line(TS + 1)]).encode()
    result = run_bytes(data, chunks=[chunk])
    assert result.invalid == [(3, "line longer than 64 KiB"), (5, "line longer than 64 KiB")]
    summary = result.summary
    assert (summary["lines"], summary["records"], summary["invalid"]) == (6, 3, 2)
    # Blocks are bounded however long the line is.
    blocks = list(split_blocks(iter([data[i : i + chunk] for i in range(0, len(data), chunk)])))
    assert max(map(len, blocks)) <= 2 * MAX_LINE + 2 * chunk


@pytest.mark.parametrize("fmt", ["csv", "clf"])
def test_file_without_final_newline(fmt: str) -> None:
    good = csv_line(TS) if fmt == "csv" else combined_line()
    data = f"{good}\n{good}".encode()
    result = run_bytes(data, fmt=fmt)
    assert (result.summary["lines"], result.summary["records"]) == (2, 2)
    with_newline = run_bytes(data + b"\n", fmt=fmt)
    assert with_newline.out == result.out


def test_header_mid_file_is_skipped_not_invalid() -> None:
    data = "\n".join([CSV_HEADER, csv_line(TS), CSV_HEADER, csv_line(TS + 1), ""]).encode()
    summary = run_bytes(data).summary
    assert (summary["lines"], summary["records"], summary["headers"], summary["invalid"]) == (
        4,
        2,
        2,
        0,
    )


def test_empty_and_blank_lines() -> None:
    data = f"\n\n{csv_line(TS)}\n\n \n".encode()
    result = run_bytes(data, fmt="csv")
    s = result.summary
    assert (s["lines"], s["records"], s["empty"], s["invalid"]) == (5, 1, 3, 1)
    assert result.invalid == [(5, "1 CSV fields, expected 7")]


def test_line_numbers_of_invalid_lines_across_blocks() -> None:
    lines = [csv_line(TS + i // 10) for i in range(3000)]
    lines[7] = "bad"
    lines[2999] = "also bad"
    lines[1500] = ""
    data = ("\n".join(lines) + "\n").encode()
    for chunks in (None, [333], [1, 7, 4096]):
        result = run_bytes(data, chunks=chunks)
        assert [n for n, _ in result.invalid] == [8, 3000]


# ------------------------------------------------------------- detection


def test_detect() -> None:
    assert detect([CSV_HEADER, csv_line(TS)]) == "csv"
    assert detect([combined_line()] * 3) == "combined"
    assert detect([clf_line()] * 3) == "clf"
    assert detect(["", CSV_HEADER, ""]) is None
    assert detect(["garbage", csv_line(TS), csv_line(TS), clf_line()]) == "csv"


@pytest.mark.parametrize("chunks", [None, [1], [7], [60]])
def test_detection_does_not_depend_on_chunking(chunks: list[int] | None) -> None:
    # Regression: the format was decided on the first block alone, so when the
    # bytes arrived a line at a time a garbage first line decided it.
    data = ("garbage\n\n" + "\n".join(csv_line(TS + i) for i in range(30)) + "\n").encode()
    result = run_bytes(data, chunks=chunks)
    assert result.notes == ["<test>: detected format csv"]
    assert (result.summary["records"], result.summary["invalid"]) == (30, 1)
    # Fewer lines than the sample: decided at the end of the source.
    short = run_bytes(b"x\n" + csv_line(TS).encode() + b"\n", chunks=chunks)
    assert short.notes == ["<test>: detected format csv"]
    assert short.summary["records"] == 1


@pytest.mark.parametrize(
    ("request_line", "method", "section"),
    [
        ("GET /api/user HTTP/1.1", "GET", "/api"),
        ("PROPFIND /dav/x HTTP/1.1", "PROPFIND", "/dav"),
        ("VERSION-CONTROL /x", "VERSION-CONTROL", "/x"),
        ("M_SEARCH * HTTP/1.1", "M_SEARCH", "(other)"),
        ("\\x16\\x03\\x01\\x01 /", "(other)", "(other)"),
        ("<SCRIPT>NXSSTEST</SCRIPT> /", "(other)", "(other)"),
        ("lv|'|'|VHJvamFu /x", "(other)", "(other)"),
        ("1GET /a", "(other)", "(other)"),
        ("-GET /a", "(other)", "(other)"),
        ("ABCDEFGHIJKLMNOPQRST /a", "ABCDEFGHIJKLMNOPQRST", "/a"),
        ("ABCDEFGHIJKLMNOPQRSTU /a", "(other)", "(other)"),
        ("GÉT /a", "(other)", "(other)"),
    ],
)
def test_method_is_a_token_or_other(request_line: str, method: str, section: str) -> None:
    """SPEC §1: 1–20 ASCII letters, `-` or `_`, starting with a letter; in both engines."""
    for fmt in ("clf", "csv"):
        line = (
            clf_line(request=request_line) if fmt == "clf" else csv_line(TS, request=request_line)
        )
        row = valid(fmt, line)
        assert (row[5], row[2]) == (method, section)
        if native.available():
            data = f"{line}\n".encode()
            assert run_bytes(data, engine_name="native").out == run_bytes(data).out
