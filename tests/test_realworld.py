"""Every real log of ../shared/data/realworld read as its users would tell hitwatch to.

The files are other projects' public fixtures (SOURCES.md there says whose);
they are read from there, never copied here, and the tests are skipped,
saying why, when ../shared is absent. Each is read with the preset or the
format string its server's configuration would hold, and its counts are
asserted. Where GoAccess (1.7) reads the same format, its counts on the same
file are the ones below (valid, failed), measured with

    goaccess FILE --log-format=FORMAT -o x.json --num-tests=0 --no-global-config
        [--date-format=%d/%b/%Y --time-format=%H:%M:%S for a format string]

and they match ours or `why` says why not.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import DATA, needs_data, shared_file
from hitwatch import formats
from hitwatch.formats.base import decode_lines
from hitwatch.model import Block

REALWORLD = DATA / "realworld"

NGINX_COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
APACHE_COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
CLF_LINES = (
    "SPEC §1: combined also reads CLF lines (no referer and agent), GoAccess's COMBINED does not"
)


class Case(NamedTuple):
    file: str
    how: str  # what the user gives: a preset's name, a format string, or json-fields
    records: int
    invalid: int
    goaccess: tuple[int, int] | None = None  # GoAccess's valid and failed counts
    why: str = ""  # why ours differ from GoAccess's (or why it is not compared)
    json: bool = False  # `how` is a --json-fields mapping


CASES = [
    Case("elastic-apache_logs.log", "combined", 8000, 0, (8000, 0)),
    Case(
        "lnav-shop_access_log.log",
        NGINX_COMBINED + ' "$http_x_forwarded_for"',
        1000,
        0,
        (1000, 0),
    ),
    Case("lnav-access_log.log", "combined", 4, 0, (4, 0)),
    Case(
        "lnav-regexp_access_log.log",
        '%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D',
        2,
        0,
        (2, 0),
    ),
    Case("lnav-w3c_big.log", "w3c", 210, 0, (210, 0)),
    Case("lnav-caddy_log.json", "caddy", 4, 0, (4, 0)),
    Case("fail2ban-nginx-bad-request.log", "combined", 8, 0, (8, 0)),
    Case(
        "fail2ban-apache-fakegooglebot.log",
        '%h %l %u %l [%{%d/%b/%Y:%H:%M:%S}t ] %v "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
        2,
        1,
        (2, 1),
        "(same counts; the third line is another server's vhost format)",
    ),
    Case("crowdsec-apache2-malformed.log", "combined", 11, 0, (11, 0)),
    Case(
        "crowdsec-bunkerweb-http-malformed.log",
        '$host $remote_addr - $request_id $remote_user [$time_local] "$request" $status '
        '$body_bytes_sent "$http_referer" "$http_user_agent"',
        7,
        5,
        (7, 5),
        "(same counts; five lines lack the $request_id field)",
    ),
    Case("crowdsec-nginx-http-malformed.log", "combined", 12, 0, (12, 0)),
    Case(
        "crowdsec-apache2-logs.log",
        "combined",
        5,
        4,
        (4, 5),
        CLF_LINES + "; the others are a vhost line and Apache error-log lines",
    ),
    Case("crowdsec-actual-budget-ipv6.log", "combined", 9, 0, (9, 0)),
    Case("crowdsec-traefik_clf.log", "traefik-clf", 6, 1, (6, 1)),
    Case("crowdsec-http_dos_bypass_cache.log", "combined", 356, 0, (356, 0)),
    Case(
        "crowdsec-nginx-proxy-manager.log",
        "[$time_local] $upstream_cache_status $upstream_status $status - $request_method "
        '$scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] '
        '[Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer"',
        6,
        8,
        (6, 8),
        "(same counts; the file mixes NPM's two formats and nginx error lines)",
    ),
    Case(
        "beats-nginx-access.log",
        "combined",
        15,
        5,
        (15, 5),
        "(same counts: the X-Forwarded-For lists and the vhost line are not Combined)",
    ),
    Case(
        "beats-nginx-test-with-host.log",
        '$host $remote_addr - $remote_user [$time_local] "$request" $status '
        '$body_bytes_sent "$http_referer" "$http_user_agent"',
        10,
        0,
        (3, 7),
        "GoAccess's %h must be an IP address; hitwatch takes the client as written "
        "(X-Forwarded-For lists, `localhost`, `unix:`)",
    ),
    Case(
        "elastic-apache-access-tests.log",
        "combined",
        21,
        5,
        (8, 18),
        CLF_LINES,
    ),
    Case("elastic-traefik-common.log", "traefik-clf", 6, 2, (6, 2)),
    Case("goaccess-issue-lines.log", "combined", 14, 16, (5, 25), CLF_LINES),
    Case(
        "matomo/amazon_cloudfront_web.log",
        "cloudfront",
        1,
        0,
        (1, 0),
    ),
    Case("matomo/caddy_json.log", "caddy", 3, 0, (3, 0)),
    Case(
        "matomo/common_complete.log",
        "vcombined",
        1,
        0,
        (0, 1),
        "GoAccess's VCOMBINED wants `vhost:port`; the port is optional in hitwatch's",
    ),
    Case(
        "matomo/common_encoding_big5.log",
        "vcombined",
        1,
        0,
        (0, 1),
        "GoAccess's VCOMBINED wants `vhost:port`; the port is optional in hitwatch's",
    ),
    Case(
        "matomo/common_vhost.log",
        "vcommon",
        1,
        0,
        (0, 1),
        "GoAccess's VCOMMON wants `vhost:port`; the port is optional in hitwatch's",
    ),
    Case(
        "matomo/elb.log",
        "aws-elb",
        1,
        2,
        (0, 2),
        "GoAccess 1.7's AWSELB reads no line of this file (its format string for the "
        "same fields reads 1, fails 1); it skips the `#` comment line, hitwatch counts "
        "it invalid; the TCP line has no status",
    ),
    Case(
        "matomo/gandi.log",
        '%v %h %l %u %t (%T s) "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
        2,
        0,
        (2, 0),
    ),
    Case(
        "matomo/haproxy.log",
        "haproxy",
        1,
        0,
        (1, 0),
        "(GoAccess has no HAProxy preset: compared with its format string for it)",
    ),
    Case("matomo/icecast2.log", APACHE_COMBINED + " %T", 1, 0, (1, 0)),
    Case(
        "matomo/iis.log",
        "w3c",
        1,
        0,
        (0, 1),
        "GoAccess's W3C is IIS's default field order and does not follow #Fields:",
    ),
    Case(
        "matomo/logs_to_tests.log",
        "combined",
        4,
        1,
        (4, 0),
        "GoAccess skips `#` comment lines; hitwatch counts them invalid",
    ),
    Case("matomo/ncsa_extended.log", "combined", 1, 0, (1, 0)),
    Case(
        "matomo/netscaler.log",
        "w3c",
        1,
        0,
        (0, 1),
        "GoAccess's W3C is IIS's default field order and does not follow #Fields:",
    ),
    Case(
        "matomo/nginx_json.log",
        "time=date,host=ip,path=path,status=status,bytes=length,vhost=host,"
        "duration:ms=generation_time_milli",
        2,
        0,
        None,
        "GoAccess reads JSON only through its own format strings",
        json=True,
    ),
    Case("matomo/ovh.log", '%h %v %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"', 1, 0, (1, 0)),
    Case(
        "matomo/s3.log",
        "$bucket_owner $host [$time_local] $remote_addr $requester $request_id $operation "
        '$key "$request" $status $error_code $body_bytes_sent $object_size $total_time '
        '$turn_around_time "$http_referer" "$http_user_agent"',
        1,
        0,
        (1, 0),
        "(GoAccess's AWSS3 preset)",
    ),
    Case(
        "matomo/traefik_json.log",
        "traefik-json",
        1,
        0,
        (1, 0),
        "(GoAccess has no Traefik JSON preset: compared with its JSON format string)",
    ),
]


def read(case: Case, block_lines: int = 0) -> Block:
    """The file parsed as the CLI would (BOM dropped), in blocks of `block_lines`
    lines (0: one block); the counts of all blocks together."""
    data = shared_file(REALWORLD / case.file).read_bytes().removeprefix(b"\xef\xbb\xbf")
    if case.json:
        name = formats.resolve(json_fields=case.how)
    else:
        name = formats.resolve(log_format=case.how)
    fmt = formats.make(name)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    step = block_lines or max(len(lines), 1)
    total = Block()
    for i in range(0, len(lines), step):
        block = fmt.parse(decode_lines(b"\n".join(lines[i : i + step]) + b"\n", i + 1))
        total.ts += block.ts
        total.vhosts += block.vhosts
        total.durations += block.durations
        total.invalid += block.invalid
        total.headers += block.headers
        total.empty += block.empty
    return total


@needs_data
def test_every_file_has_a_case() -> None:
    files = {
        str(p.relative_to(REALWORLD))
        for p in REALWORLD.rglob("*")
        if p.is_file() and p.name != "SOURCES.md"
    }
    assert files == {case.file for case in CASES}
    assert len(files) == 38


@needs_data
@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_counts(case: Case) -> None:
    block = read(case)
    assert (len(block.ts), len(block.invalid)) == (case.records, case.invalid)
    if case.goaccess is not None and case.goaccess != (case.records, case.invalid):
        assert case.why and not case.why.startswith("("), "differs from GoAccess: say why"


@needs_data
@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_counts_do_not_depend_on_blocks(case: Case) -> None:
    whole = read(case)
    for size in (1, 3):
        cut = read(case, size)
        assert (len(cut.ts), [i[1:] for i in cut.invalid]) == (
            len(whole.ts),
            [i[1:] for i in whole.invalid],
        )
        assert (cut.vhosts, cut.durations) == (whole.vhosts, whole.durations)


@needs_data
@pytest.mark.parametrize(
    ("file", "detected"),
    [
        ("lnav-w3c_big.log", "w3c"),
        ("lnav-caddy_log.json", "caddy"),
        ("matomo/caddy_json.log", "caddy"),
        ("matomo/traefik_json.log", "traefik-json"),
        ("matomo/amazon_cloudfront_web.log", "cloudfront"),
        ("matomo/iis.log", "w3c"),
        ("matomo/elb.log", "aws-elb"),
        ("matomo/haproxy.log", "haproxy"),
        ("matomo/common_vhost.log", "vcommon"),
        ("matomo/common_complete.log", "vcombined"),
        ("lnav-regexp_access_log.log", "vcombined"),
        ("elastic-apache_logs.log", "combined"),
        ("crowdsec-traefik_clf.log", "combined"),  # a Combined line first: as the kernel
    ],
)
def test_auto_detection(file: str, detected: str) -> None:
    data = shared_file(REALWORLD / file).read_bytes()
    assert formats.detect_full(decode_lines(data).lines).name == detected


@needs_data
def test_no_known_format_names_the_closest() -> None:
    data = shared_file(REALWORLD / "matomo" / "s3.log").read_bytes()
    found = formats.detect_full(decode_lines(data).lines)
    assert not found.matched and found.closest
    assert "no known format matches its first line (closest: " in formats.no_match(found)


@needs_data
def test_fields_that_formats_have() -> None:
    regexp = read(next(c for c in CASES if c.file == "lnav-regexp_access_log.log"))
    assert regexp.vhosts == ["localhost", "localhost"]
    assert regexp.durations == [0.116075, 0.156302]  # %D: microseconds
    caddy = read(next(c for c in CASES if c.file == "matomo/caddy_json.log"))
    assert caddy.vhosts == ["example.com"] * 3
    assert caddy.durations == [0.001335486, 0.00143684, 0.242570094]
    traefik = read(next(c for c in CASES if c.file == "matomo/traefik_json.log"))
    assert traefik.durations == [10.002425284]  # Duration: nanoseconds
    elb = read(next(c for c in CASES if c.file == "matomo/elb.log"))
    assert elb.durations == [0.000086 + 0.001048 + 0.001337]
    w3c = read(next(c for c in CASES if c.file == "lnav-w3c_big.log"))
    assert w3c.durations[:3] == [0.283, 0.157, 0.152]  # time-taken: ms


def test_cases_are_files_of_the_shared_data() -> None:
    """Even without ../shared: the table names each file once, none of ours."""
    names = [case.file for case in CASES]
    assert len(names) == len(set(names)) == 38
    assert not any(Path(name).is_absolute() for name in names)
