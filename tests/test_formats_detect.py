"""W3C's #Fields:, detection among the presets, what the operator is told, the options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_bytes
from hitwatch import cli, formats
from hitwatch.formats.base import decode_lines
from hitwatch.formats.presets import PRESETS

TS = 1_700_000_000


def example(name: str, copies: int = 3) -> bytes:
    lines = list(PRESETS[name].example)
    return ("\n".join(lines[:-1] + [lines[-1]] * copies) + "\n").encode()


# ---------------------------------------------------------------------- W3C


def test_w3c_fields_may_change_mid_file() -> None:
    data = (
        b"#Software: Microsoft Internet Information Services 10.0\n"
        b"#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes time-taken\n"
        b"2023-11-14 22:13:20 10.0.0.1 GET /api/a 200 10 42\n"
        b"#Fields: date time cs-method cs-uri-stem c-ip cs-host sc-status time-taken\n"
        b"2023-11-14 22:13:21 POST /login 10.0.0.2 www.example.com 302 7\n"
        b'2023-11-14 22:13:22 GET /x "10.0.0.3" www.example.com 200 1\n'
        b"2023-11-14 22:13:22 not a line\n"
    )
    fmt = formats.make("w3c")
    block = fmt.parse(decode_lines(data))
    assert block.headers == 3
    assert block.ts == [TS, TS + 1, TS + 2]
    assert block.hosts == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert block.methods == ["GET", "POST", "GET"] and block.statuses == ["200", "302", "200"]
    assert block.vhosts == ["", "www.example.com", "www.example.com"]
    assert block.durations == [0.042, 0.007, 0.001]
    assert [why for _, _, why in block.invalid] == ["not a line of its #Fields:"]


def test_w3c_quoted_values_may_hold_spaces() -> None:
    data = (
        b"#Fields: date time c-ip cs(Cookie) sc-status cs-uri-stem\n"
        b'2023-11-14 22:13:20 10.0.0.1 "a=1; b=2" 200 /api/x\n'
    )
    block = formats.make("w3c").parse(decode_lines(data))
    assert block.sections == ["/api"] and not block.invalid


def test_w3c_fields_without_a_status_make_lines_invalid() -> None:
    data = b"#Fields: date time c-ip\n2023-11-14 22:13:20 10.0.0.1\n"
    block = formats.make("w3c").parse(decode_lines(data))
    assert [why for _, _, why in block.invalid] == [
        "the #Fields: line has no date, time or sc-status"
    ]


def test_w3c_state_carries_across_blocks() -> None:
    fmt = formats.make("cloudfront")
    lines = example("cloudfront").decode().splitlines()
    blocks = [fmt.parse(decode_lines((line + "\n").encode())) for line in lines]
    assert [len(b.ts) for b in blocks] == [0, 1, 1, 1] and blocks[0].headers == 1


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "common"])
def test_each_preset_is_detected_from_its_lines(name: str) -> None:
    found = formats.detect_full(decode_lines(example(name)).lines)
    expected = {"traefik-clf": "combined"}.get(name, name)  # a Combined line: as the kernel
    assert (found.name, found.matched) == (expected, True)


def test_csv_clf_combined_are_decided_first() -> None:
    clf = b'10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET / HTTP/1.1" 200 5\n'
    assert formats.detect_full(decode_lines(clf * 3).lines).name == "clf"
    mixed = clf + example("caddy")
    assert formats.detect(decode_lines(mixed).lines) == "clf"


def test_no_known_format_says_which_came_closest() -> None:
    data = b"hello there\nthis is not a log\n"
    found = formats.detect_full(decode_lines(data).lines)
    assert found.name == "clf" and not found.matched
    result = run_bytes(data)
    assert result.summary["invalid"] == 2
    assert result.notes[0].startswith("<test>: no known format matches its first 2 lines"), (
        result.notes
    )
    assert result.notes[-1] == "<test>: not one line could be read as format clf"


def test_nearly_a_preset() -> None:
    # an ELB line whose status is cut off: aws-elb comes closest
    line = PRESETS["aws-elb"].example[0].replace(" 200 200 ", " x ")
    found = formats.detect_full([line])
    assert not found.matched and found.closest[0] == "aws-elb"


def test_a_given_format_that_reads_no_line_says_which_would() -> None:
    result = run_bytes(example("caddy"), fmt="vcombined")
    assert (
        result.notes[0]
        == "<test>: format vcombined reads none of the first 3 lines; caddy reads 3 of them"
    )
    assert result.summary["invalid"] == 3
    same = run_bytes(example("caddy"), fmt="vcombined", chunks=[7])
    assert same.notes == result.notes  # however the bytes arrive


def test_a_given_format_that_reads_its_lines_says_nothing() -> None:
    assert run_bytes(example("haproxy"), fmt="haproxy").notes == []


# --------------------------------------------------------------- the command


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_log_format_string(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text(
        'www.example.com:443 10.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "GET /a HTTP/1.1" '
        '200 5 "-" "curl" 1500\n'
    )
    fmt = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D'
    code, out, err = run_cli(capsys, "--output", "jsonl", "--log-format", fmt, str(path))
    assert code == 0 and err == ""
    assert json.loads(out.splitlines()[-1])["records"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--log-format", '%h %t "%r" %Z'],
            '--log-format: unknown directive %Z: %h %t "%r" >>>%Z<<<',
        ),
        (["--log-format", "$remote_addr $status"], "--log-format: no time field in the format"),
        (["--json-fields", "time=ts"], "--json-fields: no status field"),
        (["--format", "csv", "--log-format", "caddy"], "give the format once"),
        (["--forwarded-for"], "--forwarded-for needs the format"),
        (["--log-format", "combined", "--forwarded-for"], "has no X-Forwarded-For field"),
    ],
)
def test_formats_that_cannot_work_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, *argv, "whatever.log")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err, err


def test_formats_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "formats")
    assert code == 0
    for name in formats.NAMES[1:]:
        assert f"\n{name} " in out
        for line in formats.FORMATS[name].example:
            assert f"    {line}\n" in out
    code, out, _ = run_cli(capsys, "formats", "vcombined")
    assert code == 0 and "description: {vhost:port} {host}" in out
    code, out, _ = run_cli(capsys, "formats", "%h %t %>s")
    assert code == 0 and "items (kind, field, text):" in out
    code, _, err = run_cli(capsys, "formats", "%h %Z")
    assert code == 2 and "unknown directive %Z" in err


def test_every_example_parses_with_its_format() -> None:
    for name in formats.NAMES[1:]:
        lines = list(formats.FORMATS[name].example)
        fmt = formats.make(name)
        block = fmt.parse(decode_lines(("\n".join(lines) + "\n").encode()))
        assert len(block.ts) == 1 and not block.invalid, name


def test_w3c_reasons_do_not_depend_on_the_block_path() -> None:
    fmt = formats.make("w3c")
    fmt.parse(decode_lines(b"#Fields: date time c-ip sc-status\n"))
    fast = fmt.parse(decode_lines(b"2023-11-14 22:13:20 10.0.0.1 200\n2023-11-14 22:13:20\n"))
    assert [why for _, _, why in fast.invalid] == ["not a line of its #Fields:"]
