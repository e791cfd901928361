"""JSON lines: field mappings, Caddy and Traefik presets, the block path against the line path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitwatch import formats
from hitwatch.formats.base import decode_lines
from hitwatch.formats.compiler import FormatError
from hitwatch.formats.jsonlines import JsonFormat, parse_mapping
from hitwatch.formats.text import lines_block

TS = 1_700_000_000


def caddy(**over: Any) -> str:
    obj: dict[str, Any] = {
        "level": "info",
        "ts": TS + 0.25,
        "logger": "http.log.access",
        "request": {
            "remote_ip": "10.0.0.9",
            "client_ip": "10.0.0.1",
            "method": "GET",
            "host": "www.example.com",
            "uri": "/api/user?id=7",
            "headers": {"X-Forwarded-For": ["203.0.113.7, 10.0.0.2"]},
        },
        "duration": 0.0042,
        "size": 1234,
        "status": 200,
    }
    obj.update(over)
    return json.dumps(obj)


def parse(fmt: Any, lines: list[str]) -> Any:
    text = decode_lines(("\n".join(lines) + "\n").encode())
    block = fmt.parse(text)
    assert block == lines_block(fmt, decode_lines(("\n".join(lines) + "\n").encode()))
    return block


def test_caddy() -> None:
    block = parse(formats.make("caddy"), [caddy()] * 2)
    assert block.ts == [TS, TS] and block.hosts == ["10.0.0.1"] * 2
    assert block.sections == ["/api"] * 2 and block.methods == ["GET"] * 2
    assert block.statuses == ["200"] * 2 and block.nbytes == [1234] * 2
    assert block.vhosts == ["www.example.com"] * 2 and block.durations == [0.0042] * 2


def test_caddy_older_versions_have_no_client_ip() -> None:
    line = caddy()
    obj = json.loads(line)
    del obj["request"]["client_ip"]
    block = parse(formats.make("caddy"), [json.dumps(obj), line])
    assert block.hosts == ["10.0.0.9", "10.0.0.1"]


def test_forwarded_for_from_a_header_list() -> None:
    name = formats.resolve(log_format="caddy", forwarded_for=True)
    block = parse(formats.make(name), [caddy()])
    assert block.hosts == ["203.0.113.7"]


def test_traefik_json() -> None:
    line = json.dumps(
        {
            "ClientHost": "10.0.0.1",
            "DownstreamStatus": 502,
            "DownstreamContentSize": 11,
            "Duration": 4_200_000,
            "RequestMethod": "POST",
            "RequestPath": "/login",
            "RequestHost": "app.example.com",
            "StartUTC": "2023-11-14T22:13:20.773360139Z",
        }
    )
    block = parse(formats.make("traefik-json"), [line])
    assert (block.ts, block.statuses, block.durations) == ([TS], ["502"], [0.0042])
    assert block.vhosts == ["app.example.com"]


@pytest.mark.parametrize(
    ("value", "ts"),
    [
        (TS, TS),
        (TS + 0.9, TS),
        (TS * 1000 + 999, TS),
        (TS * 10**6, TS),
        (TS * 10**9, TS),
        (str(TS), TS),
        ("1700000000.5", TS),
        ("2023-11-14T22:13:20Z", TS),
        ("2023-11-14T23:13:20+01:00", TS),
        ("2023-11-14 22:13:20", TS),
        ("14/Nov/2023:22:13:20 +0000", TS),
        ("yesterday", None),
        (-5, None),
        (True, None),
        (None, None),
        ([TS], None),
    ],
)
def test_times(value: Any, ts: int | None) -> None:
    fmt = JsonFormat("t", parse_mapping("time=t,status=s"))
    row = fmt.parse_line(json.dumps({"t": value, "s": 200}))
    assert (row if isinstance(row, str) else row[0]) == (ts if ts is not None else row)
    if ts is None:
        assert isinstance(row, str)


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"s": 200}, "no time"),
        ({"t": TS, "s": 99}, "bad status"),
        ({"t": TS, "s": "2xx"}, "bad status"),
        ({"t": TS, "s": True}, "bad status"),
        ({"t": TS, "s": [200]}, "bad status"),
        ({"t": TS, "s": 200, "b": -1}, "bad bytes"),
        ({"t": TS, "s": 200, "b": "12x"}, "bad bytes"),
    ],
)
def test_invalid_objects(obj: dict[str, Any], reason: str) -> None:
    fmt = JsonFormat("t", parse_mapping("time=t,status=s,bytes=b"))
    assert fmt.parse_line(json.dumps(obj)) == reason
    assert fmt.parse_line("{not json") == "not a JSON line"
    assert fmt.parse_line("[1, 2]") == "not a JSON object"


def test_generic_mapping_with_dotted_paths_and_alternatives() -> None:
    fmt = JsonFormat(
        "t",
        parse_mapping(
            "time=when,status=res.code,path=req.uri|req.path,host=peer,request=line,"
            "duration:ms=took,vhost=req.host"
        ),
    )
    lines = [
        json.dumps({"when": TS, "res": {"code": "404"}, "req": {"path": "/a/b"}, "took": 12}),
        json.dumps({"when": TS, "res": {"code": 200}, "req": {"uri": "/c"}, "peer": "h"}),
        json.dumps({"when": TS, "res": {"code": 200}, "line": "PUT /d/e HTTP/1.1"}),
        json.dumps({"when": TS, "res": "flat", "req": 5}),  # wrong shapes: invalid, no crash
    ]
    block = parse(fmt, lines)
    assert block.sections == ["/a", "/c", "/d"] and block.methods == ["(other)", "(other)", "PUT"]
    assert block.hosts == ["-", "h", "-"] and block.durations == [0.012, None, None]
    assert [why for _, _, why in block.invalid] == ["bad status"]


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ("status=s", "no time field"),
        ("time=t", "no status field"),
        ("time=t,status=s,colour=c", "unknown field 'colour'"),
        ("time=t,status=s,host", "expected FIELD=PATH"),
        ("time=t,status=s,bytes:ms=b", "only duration takes a unit"),
        ("time=a..b,status=s", "an empty key"),
        ("time=a,status=a.b", "is a value and an object"),
    ],
)
def test_mappings_that_cannot_work(mapping: str, problem: str) -> None:
    with pytest.raises(FormatError, match=problem):
        parse_mapping(mapping)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.builds(
                json.dumps,
                st.dictionaries(
                    st.sampled_from(["ts", "status", "size", "duration", "request", "x"]),
                    st.recursive(
                        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                        lambda inner: (
                            st.lists(inner, max_size=2)
                            | st.dictionaries(st.sampled_from(["uri", "client_ip", "host"]), inner)
                        ),
                        max_leaves=4,
                    ),
                ),
            ),
            st.just(caddy()),
        ),
        max_size=6,
    )
)
def test_any_line_is_a_record_or_invalid_and_blocks_agree(lines: list[str]) -> None:
    fmt = formats.make("caddy")
    lines = [line.replace("\n", " ") for line in lines]
    text = decode_lines(("\n".join(lines) + "\n").encode())
    assert fmt.parse(text) == lines_block(fmt, decode_lines(("\n".join(lines) + "\n").encode()))  # type: ignore[arg-type]
