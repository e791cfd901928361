"""Format strings into descriptions: nginx, Apache, hitwatch's notation; the refusals."""

from __future__ import annotations

import pytest

from hitwatch.formats.compiler import FormatError, compile_format, compile_notation
from hitwatch.formats.describe import (
    BYTES,
    CLF_TIME,
    DURATION,
    FIELD,
    HOST,
    LITERAL,
    QUOTED,
    REQUEST,
    SKIP,
    STATUS,
    TARGET,
    TIME,
    VHOST,
    XFF,
    Item,
)
from hitwatch.formats.presets import PRESETS, description

NGINX = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time'
)
APACHE = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'


def test_nginx_combined_with_request_time() -> None:
    desc = compile_format(NGINX)
    assert desc.items == (
        Item(FIELD, HOST),
        Item(LITERAL, SKIP, " - "),
        Item(FIELD, SKIP),
        Item(LITERAL, SKIP, " ["),
        Item(FIELD, TIME, CLF_TIME),
        Item(LITERAL, SKIP, "] "),
        Item(QUOTED, REQUEST),
        Item(LITERAL, SKIP, " "),
        Item(FIELD, STATUS),
        Item(LITERAL, SKIP, " "),
        Item(FIELD, BYTES),
        Item(LITERAL, SKIP, " "),
        Item(QUOTED, SKIP),
        Item(LITERAL, SKIP, " "),
        Item(QUOTED, SKIP),
        Item(LITERAL, SKIP, " "),
        Item(FIELD, DURATION, "s"),
    )
    assert desc.source == NGINX


def test_apache_vhost_combined_with_d() -> None:
    desc = compile_format(APACHE)
    assert desc.notation() == (
        '{vhost}:{skip} {host} {skip} {skip} [{time}] "{request}" {status} {bytes} '
        '"{skip}" "{skip}" {duration:us}'
    )


@pytest.mark.parametrize(
    ("nginx", "apache"),
    [
        ('$remote_addr [$time_local] "$request" $status', '%h %t "%r" %>s'),
        ("$host $remote_addr [$time_local] $status $request_time", "%v %a %t %s %T"),
        ("$remote_addr $time_iso8601 $status", "%h %{%Y-%m-%dT%H:%M:%S%z}t %s"),
    ],
)
def test_both_syntaxes_say_the_same(nginx: str, apache: str) -> None:
    a, b = compile_format(nginx), compile_format(apache)
    assert [(i.kind, i.field) for i in a.items] == [(i.kind, i.field) for i in b.items]


def test_nginx_variables() -> None:
    fields = lambda text: [i.field for i in compile_format(text).items if i.kind != LITERAL]  # noqa: E731
    assert fields("$msec $status $host $http_x_forwarded_for $upstream_response_time") == [
        TIME,
        STATUS,
        VHOST,
        XFF,
        DURATION,
    ]
    # $request_time wins over $upstream_response_time; a later $status is skipped
    assert fields("$msec $status $upstream_response_time $request_time $status") == [
        TIME,
        STATUS,
        SKIP,
        DURATION,
        SKIP,
    ]
    # any other variable is read and skipped; ${var} works too
    assert fields("${msec} $status $whatever_you_like") == [TIME, STATUS, SKIP]
    # $uri$is_args$args is one target
    assert fields("$msec $request_method $uri$is_args$args $status") == [
        TIME,
        4,  # METHOD
        TARGET,
        STATUS,
    ]


def test_apache_directives() -> None:
    desc = compile_format("%a %{%d/%b/%Y %T}t %m %U%q %H %s %B %{ms}T %{X-Forwarded-For}i")
    assert desc.notation() == (
        "{host} {time:%d/%b/%Y %T} {method} {target} {skip} {status} {bytes} {duration:ms} {xff}"
    )
    assert compile_format("%h %{sec}t %s").items[2] == Item(FIELD, TIME, "sec")
    assert compile_format("%h %{msec}t.%{msec_frac}t %s").items[4] == Item(FIELD, SKIP)
    assert "%" in compile_format("%h %t %s 100%%").items[-1].text


def test_pasted_from_the_configuration() -> None:
    nginx = (
        "log_format main '$remote_addr - $remote_user [$time_local] '\n"
        "                '\"$request\" $status $body_bytes_sent';"
    )
    assert compile_format(nginx).notation() == (
        '{host} - {skip} [{time}] "{request}" {status} {bytes}'
    )
    apache = 'LogFormat "%h %l %u %t \\"%r\\" %>s %b" common'
    assert compile_format(apache).notation() == (
        '{host} {skip} {skip} [{time}] "{request}" {status} {bytes}'
    )


@pytest.mark.parametrize(
    ("text", "problem", "marked"),
    [
        ("$remote_addr $status", "no time field", None),
        ("%h %t %b", "no status field", None),
        ("%h %t %s %Z", "unknown directive %Z", ">>>%Z<<<"),
        ("%h %t %s %{Foo}x", "unknown directive %x", ">>>%{Foo}x<<<"),
        ("%h %t %s %", "a % with no directive", ">>>%<<<"),
        ("%h %t %s %{Foo}m", "%m takes no {...}", ">>>%{Foo}m<<<"),
        ("[$time_local] $status $ x", "a $ with no variable name", ">>>$<<<"),
        ("[$time_local] $status ${x", "a $ with no variable name", ">>>${x<<<"),
        (
            "$remote_addr$remote_user [$time_local] $status",
            "two fields with nothing between them",
            ">>>$remote_addr$remote_user<<<",
        ),
        ("%h %{%Q}t %s", "unsupported time conversion %Q", ">>>%{%Q}t<<<"),
        ("%h %{%H:%M}t %s", "needs a year", ">>>%{%H:%M}t<<<"),
        ("%h %t %s %{xs}T", "unit is s, ms, us or ns", ">>>%{xs}T<<<"),
        ("x" * 5000, "longer than 4096", None),
    ],
)
def test_refused_with_one_line_pointing_at_the_offending_part(
    text: str, problem: str, marked: str | None
) -> None:
    with pytest.raises(FormatError) as caught:
        compile_format(text)
    message = str(caught.value)
    assert problem in message
    assert "\n" not in message
    if marked:
        assert marked in message


def test_fields_that_can_be_split_need_no_literal() -> None:
    # a status is three digits, a CLF time 26 characters: what follows is told apart
    assert compile_format("%t %>s%b").notation() == "[{time}] {status}{bytes}"
    assert compile_format("$status$request_time [$time_local]").items[0].field == STATUS


def test_notation() -> None:
    desc = compile_notation('{{{vhost:port}}} [{time}] "{request}" {status} {duration:ns}')
    assert desc.notation() == '{{{vhost:port}}} [{time}] "{request}" {status} {duration:ns}'
    assert desc.items[0] == Item(LITERAL, SKIP, "{")
    assert desc.items[3].text == CLF_TIME
    for bad, problem in [
        ("{nope} [{time}] {status}", "unknown field 'nope'"),
        ("{host [{time}] {status}", "unknown field"),
        ("{host:pot} [{time}] {status}", "'port'"),
        ("{status:x} [{time}]", "takes no argument"),
        ("[{time}] {status} }", "closes nothing"),
        ("[{time}] {status} {", "not closed"),
    ]:
        with pytest.raises(FormatError, match=problem):
            compile_notation(bad)


def test_as_data_for_the_c_side() -> None:
    data = compile_format('%h [%{sec}t] "%r" %>s').as_data()
    assert data == [
        (FIELD, HOST, b""),
        (LITERAL, SKIP, b" ["),
        (FIELD, TIME, b"sec"),
        (LITERAL, SKIP, b"] "),
        (QUOTED, REQUEST, b""),
        (LITERAL, SKIP, b" "),
        (FIELD, STATUS, b""),
    ]


@pytest.mark.parametrize(
    "name", [n for n, p in PRESETS.items() if p.kind in ("apache", "notation")]
)
def test_text_presets_compile_and_round_trip(name: str) -> None:
    desc = description(PRESETS[name])
    assert compile_notation(desc.notation()).items == desc.items
