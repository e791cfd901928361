"""Alert rules from a TOML file (SPEC §9): what is accepted, and one clear line for each mistake."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import ROOT
from hitwatch.config import RuleSpec
from hitwatch.configfile import MAX_GROUPS, MAX_RULES, ConfigError, exact, parse

EXAMPLE = ROOT / "examples" / "rules.toml"


def rules(text: str) -> tuple[RuleSpec, ...]:
    return parse(text.encode(), "r.toml")


def error(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        rules(text)
    return str(exc.value)


def test_a_rule_of_each_kind_with_every_key() -> None:
    got = rules(
        """
[[rules]]
name = "api_errors"
kind = "error_ratio_above"
window = "2m"
threshold = 0.05
for = 30
match = { section = ["/api", "/v2"], status = "5xx" }
group_by = "host"
max_groups = 7
errors = ["5xx", "404"]
min_hits = 3

[[rules]]
name = "quiet"
kind = "rate_below"
threshold = 0.1
"""
    )
    assert got == (
        RuleSpec(
            "api_errors", "error_ratio_above", 120, Fraction(1, 20), 30,
            (("section", ("/api", "/v2")), ("status", ("5xx",))), "host", 7, ("404", "5xx"), 3,
        ),
        RuleSpec("quiet", "rate_below", 120, Fraction(1, 10)),
    )  # fmt: skip


def test_thresholds_are_the_decimals_written() -> None:
    (spec,) = rules('[[rules]]\nname = "x"\nkind = "rate_above"\nthreshold = 0.1\n')
    assert spec.threshold == Fraction(1, 10)
    assert exact(spec.threshold) == "0.1"
    assert exact(Fraction(123456789, 1000)) == "123456.789"


def test_the_example_config_is_valid() -> None:
    specs = parse(EXAMPLE.read_bytes(), str(EXAMPLE))
    assert {s.kind for s in specs} == {"rate_above", "rate_below", "error_ratio_above"}
    assert {s.group_by for s in specs} >= {"section", "host"}


RULE = '[[rules]]\nname = "r1"\nkind = "rate_above"\nthreshold = 1\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RULE + "colour = 1\n", "r.toml:5: rule r1: unknown key 'colour'"),
        ('[[rules]]\nname = "r1"\nthreshold = 1\n', "r.toml:1: rule r1: missing key 'kind'"),
        ('[[rules]]\nkind = "rate_above"\n', "rule #1: missing key 'name'"),
        ('[[rules]]\nname = "r1"\nkind = "rate_above"\n', "rule r1: missing key 'threshold'"),
        (
            RULE.replace("rate_above", "spike"),
            "r.toml:3: rule r1: kind: unknown kind 'spike' (known:",
        ),
        (RULE.replace("= 1", "= -1"), "r.toml:4: rule r1: threshold: must not be negative"),
        (RULE + "window = 0\n", "r.toml:5: rule r1: window: must be from 1 to 86400"),
        (RULE + 'window = "2d"\n', "rule r1: window: must be from 1 to 86400"),
        (RULE + 'window = "soon"\n', "rule r1: window: expected seconds such as 10"),
        (RULE + RULE, "r.toml:6: rule r1: duplicate name"),
        (
            RULE + "min_hits = 3\n",
            "rule r1: min_hits: only for error_ratio_above and latency_above, not rate_above",
        ),
        (RULE + "errors = ['5xx']\n", "rule r1: errors: only for error_ratio_above"),
        (RULE + 'group_by = "colour"\n', "rule r1: group_by: unknown field 'colour' (known:"),
        (RULE + 'match = { agent = "x" }\n', "rule r1: match: unknown field 'agent'"),
        (RULE + 'match = { status = "5XX" }\n', "rule r1: match.status: a status is a class"),
        (RULE + "match = { section = [] }\n", "rule r1: match.section: expected a string or"),
        (RULE + f"max_groups = {10**6}\n", f"rule r1: max_groups: must be from 1 to {MAX_GROUPS}"),
        (RULE.replace('"r1"', '"R 1"'), "rule #1: name must be 1-64 of a-z, 0-9 and _"),
        (RULE.replace("rate_above", "error_ratio_above").replace("= 1", "= 1.5"), "ratio from 0"),
        ("[[rules]\n", "r.toml: invalid TOML:"),
        ("rulez = 1\n", "r.toml:1: unknown key 'rulez'"),
    ],
)
def test_each_mistake_is_one_line(text: str, expected: str) -> None:
    message = error(text)
    assert expected in message
    assert "\n" not in message


def test_ten_thousand_rules_are_refused_at_once() -> None:
    text = "".join(RULE.replace('"r1"', f'"r{i}"') for i in range(10_000))
    assert f"10000 rules; at most {MAX_RULES}" in error(text)


def test_check_config_prints_the_rules(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hitwatch", "check-config", str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "4 rules" in done.stdout
    assert "api_errors  error_ratio_above  window 120s  threshold 0.05  for 30s" in done.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(RULE + "colour = 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "hitwatch", "check-config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "unknown key 'colour'" in done.stderr


def test_config_with_window_flag_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hitwatch", "--config", str(EXAMPLE), "--window", "60", "x.log"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "with --config, set them in the file" in done.stderr


def test_latency_above_keys() -> None:
    (spec,) = rules(
        '[[rules]]\nname = "slow"\nkind = "latency_above"\nthreshold = 0.25\n'
        'quantile = 0.99\nmin_hits = 5\ngroup_by = "vhost"\n'
    )
    assert (spec.threshold, spec.quantile, spec.min_hits) == (Fraction(1, 4), Fraction(99, 100), 5)
    assert "quantile: must be above 0 and at most 1" in error(
        '[[rules]]\nname = "slow"\nkind = "latency_above"\nthreshold = 1\nquantile = 0\n'
    )
    assert "quantile: only for latency_above, not rate_above" in error(RULE + "quantile = 0.5\n")
