"""The dashboard: rendered into a recording Console, and once for real in a pseudo-terminal."""

from __future__ import annotations

import io
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from rich.console import Console

from hitwatch.model import Alert, Report, RuleStatus, Status, Summary
from hitwatch.outputs.dashboard import Dashboard, sparkline

T0 = 1_549_573_860


def report(i: int, hits: int = 98) -> Report:
    return Report(
        T0 + 10 * i,
        T0 + 10 * i + 10,
        hits,
        120_932,
        (("2xx", 88), ("4xx", 6), ("5xx", 4)),
        (("GET", 90), ("POST", 8)),
        (("/api", 52), ("/report", 30), ("/\x1b[31mred", 9), ("/[bold red]boom[/]", 7)),
        (("10.0.0.1", 40), ("\x1b]0;pwned\x07", 20), ("[link=x]h[/link]", 10)),
        4,
        1,
        2,
    )


def status(firing: bool, rate_hits: int = 1306, sources: tuple[str, ...] = ()) -> Status:
    return Status(
        mode="follow",
        sources=sources or ("/var/log/nginx/access.log",),
        log_time=T0 + 200,
        final=T0 + 194,
        lines=4831,
        lines_per_s=1234.0,
        records=4830,
        late=3,
        invalid=1,
        idle=False,
        rules=(RuleStatus("high_traffic", "rate_above", rate_hits, 120, Fraction(10), firing),),
    )


def dashboard(firing: bool = True) -> Dashboard:
    d = Dashboard(Console(file=io.StringIO()), interval=10)
    for i in range(15):
        d.emit([report(i, hits=60 + 10 * i)])
    d.emit([Alert("high_traffic", "rate_above", "firing", T0 + 96, 1206, 120, Fraction(10))])
    if not firing:
        d.emit(
            [
                Alert(
                    "high_traffic",
                    "rate_above",
                    "resolved",
                    T0 + 183,
                    1198,
                    120,
                    Fraction(10),
                    T0 + 96,
                )
            ]
        )
    d.tick(status(firing, sources=("/var/log/\x1b[2Jx.log", "[red]b.log[/red]")))
    return d


def render(d: Dashboard, width: int, height: int) -> str:
    console = Console(
        record=True, width=width, height=height, file=io.StringIO(), force_terminal=True
    )
    console.print(d.view(), crop=True)
    return console.export_text(styles=False)


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 60)])
def test_renders_every_part(width: int, height: int) -> None:
    text = render(dashboard(), width, height)
    lines = text.splitlines()
    assert len(lines) <= height
    assert max(len(line) for line in lines) <= width
    assert "hitwatch" in lines[0] and "access.log" not in lines[0]  # these sources, escaped
    assert "log time 2019-02-07T21:14:20Z" in text
    assert "1,234 lines/s" in text and "records 4,830" in text
    assert "late 3" in text and "invalid 1" in text
    assert "now 10.88 req/s over 2m, threshold 10" in text
    assert "HIGH TRAFFIC" in text and "1206 hits" in text
    assert "alerts (1)" in text
    assert "sections" in text and "hosts" in text and "status" in text and "methods" in text
    assert "/api" in text and "2xx" in text and "GET" in text and "10.0.0.1" in text
    # Markup-like text is shown as typed; escapes are shown, not interpreted.
    assert "[red]b.log[/red]" in text
    assert "\\x1b[2Jx.log" in text
    if width >= 200:
        assert "/[bold red]boom[/]" in text and "[link=x]h[/link]" in text
        assert "\\x1b]0;pwned\\x07" in text and "/\\x1b[31mred" in text


def test_banner_is_red_while_firing_and_green_after() -> None:
    def banner_style(d: Dashboard) -> str:
        console = Console(record=True, width=80, height=24, file=io.StringIO())
        console.print(d.view(), crop=True)
        html = console.export_html(inline_styles=True)
        return html

    firing = banner_style(dashboard(firing=True))
    assert "HIGH TRAFFIC" in firing and "#800000" in firing  # red
    d = dashboard(firing=False)
    text = render(d, 80, 24)
    assert "HIGH TRAFFIC" not in text and "OK" in text
    assert "recovered" in text and "after 1m27s" in text


@pytest.mark.parametrize(("width", "height"), [(1, 1), (10, 3), (20, 5), (40, 10), (79, 23)])
def test_small_terminals_do_not_crash(width: int, height: int) -> None:
    render(dashboard(), width, height)
    render(Dashboard(Console(file=io.StringIO())), width, height)  # before any input


def test_no_escape_byte_reaches_the_terminal() -> None:
    console = Console(width=200, height=60, file=io.StringIO(), force_terminal=True)
    console.print(dashboard().view())
    out = console.file.getvalue()  # type: ignore[attr-defined]
    # rich writes its own SGR sequences; none of the log's may pass.
    for evil in ("\x1b[31mred", "\x1b]0;", "\x07", "\x1b[2J"):
        assert evil not in out


def test_sparkline_marks_bars_over_the_threshold() -> None:
    line = sparkline([0, 5, 10, 20], 10, 10)
    assert line.plain == "·▃▅█"
    assert [span.style for span in line.spans][-1] == "red"
    assert sparkline([1, 2, 3], 10, 0).plain == ""


def test_close_prints_the_alerts_and_the_summary() -> None:
    out = io.StringIO()
    d = Dashboard(Console(file=io.StringIO()), out=out)
    d.emit([Alert("high_traffic", "rate_above", "firing", T0, 1206, 120, Fraction(10))])
    d.close(Summary(10, 10, 0, 0, 0, 0, T0, T0 + 5, 1, ("high_traffic",), 0, 5))
    text = out.getvalue()
    assert text.startswith("High traffic generated an alert - hits = 1206")
    assert "Summary: 10 lines" in text


# ------------------------------------------------------------------ a real terminal


def csv_lines(ts: int, n: int) -> bytes:
    return b"".join(
        f'"10.0.0.{i % 5}","-","apache",{ts},"GET /api/x HTTP/1.0",200,100\n'.encode()
        for i in range(n)
    )


def test_in_a_pseudo_terminal(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    log = tmp_path / "access.log"
    now = int(time.time())
    log.write_bytes(csv_lines(now - 30, 1))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "hitwatch", "-f", str(log), "--threshold", "1", "--window", "10", "--lateness", "1"],
        dimensions=(24, 80),
        env={**os.environ, "TERM": "xterm-256color"},
        timeout=15,
    )
    try:
        child.expect("hitwatch")
        # Grow the file: 20 hits a second for a few seconds of log time.
        with open(log, "ab") as fh:
            for s in range(8):
                fh.write(csv_lines(now - 20 + s, 20))
        child.expect("HIGH TRAFFIC")
        child.setwinsize(10, 40)  # resized smaller: no crash
        with open(log, "ab") as fh:
            fh.write(csv_lines(now - 11, 20))
        child.send("q")
        child.expect("Summary: ")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
