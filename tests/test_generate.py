"""The synthetic log generator: its default output does not move, every format
carries the same records, and the high-cardinality site has the asked shape."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from hitwatch import generate

ROOT = Path(__file__).resolve().parents[1]

# A small high-cardinality site: every option of it, small enough for a test.
SITE = ["--hosts", "2000", "--sections", "40", "--paths", "60", "--queries", "0.2"]
SITE_RUN = [*SITE, "--minutes", "4", "--rate", "40", "--spike-rate", "120"]

_COMBINED = re.compile(
    r'(\S+) - - \[([^\]]+)\] "(\S+) (\S+) HTTP/1\.1" (\d{3}) (\d+|-)(?: "([^"]*)" "([^"]*)")?'
)

CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
Record = tuple[int, str, str, str, int, int]


def run(tmp_path: Path, *argv: str) -> Path:
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}.log"
    assert generate.main([*argv, "-o", str(out)]) == 0
    return out


def csv_records(path: Path) -> list[Record]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["remotehost", "rfc931", "authuser", "date", "request", "status", "bytes"]
    out = []
    for host, _, _, ts, request, status, size in rows[1:]:
        method, target, _proto = request.split(" ")
        out.append((int(ts), host, method, target, int(status), int(size)))
    return out


def clf_records(path: Path, *, combined: bool) -> list[Record]:
    out = []
    seconds: dict[str, int] = {}
    for line in path.read_text().splitlines():
        m = _COMBINED.fullmatch(line)
        assert m is not None, line
        host, stamp, method, target, status, size, referer, agent = m.groups()
        assert (referer is not None and agent is not None) == combined, line
        ts = seconds.get(stamp)
        if ts is None:
            ts = seconds[stamp] = int(datetime.strptime(stamp, CLF_TIME).timestamp())
        out.append((ts, host, method, target, int(status), 0 if size == "-" else int(size)))
    return out


# Hashes of the generator's output before the high-cardinality site was added.
@pytest.mark.parametrize(
    ("argv", "sha256"),
    [
        (
            "--format combined --minutes 3 --seed 5 --rate 20 --spike-rate 60 --lines 2000",
            "ac80de1bc36ec7cb68906d9f764225c32db51b628a16a8bf7c74560e35140896",
        ),
        (
            "--format csv --minutes 2",
            "e0daf2cb1ff7ccac7a8516897c70d896d3e959a00e4fc6c5d83888fdc90dbc28",
        ),
        (
            "--format clf --minutes 2",
            "35b0457508629f6aa4d7b276d9cd61282bc72f639bef0dd2a7cff2b6cfca9f70",
        ),
    ],
)
def test_default_output_is_unchanged(tmp_path: Path, argv: str, sha256: str) -> None:
    out = run(tmp_path, *argv.split())
    assert hashlib.sha256(out.read_bytes()).hexdigest() == sha256


def test_example_log_is_regenerated_exactly(tmp_path: Path) -> None:
    out = run(tmp_path, "--format", "combined", "--minutes", "8")
    assert out.read_bytes() == (ROOT / "examples" / "access.log").read_bytes()


@pytest.mark.parametrize("options", [[], SITE_RUN], ids=["default", "site"])
def test_every_format_carries_the_same_records(tmp_path: Path, options: list[str]) -> None:
    records = csv_records(run(tmp_path, "--format", "csv", *options))
    assert len(records) > 1000
    assert clf_records(run(tmp_path, "--format", "combined", *options), combined=True) == records
    assert clf_records(run(tmp_path, "--format", "clf", *options), combined=False) == records


def test_site_records_are_those_of_traffic() -> None:
    site = generate.Site.make(hosts=300, sections=10, paths=20, seed=3)
    records = list(generate.traffic(seconds=60, rate=30, seed=3, site=site))
    again = list(generate.traffic(seconds=60, rate=30, seed=3, site=site))
    assert records == again
    assert len(records) == pytest.approx(60 * (0.8 * 30 + 0.2 * 25), rel=0.1)
    lines = list(generate.lines("csv", records, site))
    assert len(lines) == len(records) + 1
    assert lines[1] == '"{1}","-","apache",{0},"{2} {3} HTTP/1.1",{4},{5}'.format(*records[0])


def test_lines_stops_a_run_at_a_prefix(tmp_path: Path) -> None:
    full = run(tmp_path, "--format", "combined", *SITE_RUN).read_text().splitlines()
    short = run(tmp_path, "--format", "combined", *SITE_RUN, "--lines", "500").read_text()
    assert short.splitlines() == full[:500]


def test_site_has_the_asked_cardinality(tmp_path: Path) -> None:
    more = ["--minutes", "15", "--rate", "100", "--lines", "60000"]
    records = csv_records(run(tmp_path, "--format", "csv", *SITE, *more))
    assert len(records) == 59_999  # --lines counts the header
    hosts = Counter(r[1] for r in records)
    sections = Counter("/" + r[3].split("/")[1].split("?")[0] for r in records)
    targets = Counter(r[3] for r in records)
    # 2000 addresses weighted 1/(i+1): the rarest is expected ~3.6 times.
    assert len(hosts) >= 1800
    assert len(sections) == 40
    assert len(targets) >= 600
    assert 0.05 < sum("?" in t for t in targets) / len(targets) < 0.4
    # Zipf-like: rank 10 has about a tenth of rank 1's hits, rank 2 about half.
    for counts in (hosts, sections):
        ranked = [n for _name, n in counts.most_common()]
        assert 0.35 < ranked[1] / ranked[0] < 0.65
        assert 0.05 < ranked[9] / ranked[0] < 0.2
    # The status and method mix of the default traffic.
    statuses = Counter(r[4] for r in records)
    assert statuses[200] / len(records) == pytest.approx(0.70, abs=0.02)
    assert Counter(r[2] for r in records)["GET"] / len(records) == pytest.approx(0.80, abs=0.02)
    assert all(r[5] == 0 for r in records if r[4] in (204, 304))


def test_site_is_reproducible_by_seed() -> None:
    a = generate.Site.make(hosts=500, sections=20, paths=30, seed=1)
    assert a == generate.Site.make(hosts=500, sections=20, paths=30, seed=1)
    b = generate.Site.make(hosts=500, sections=20, paths=30, seed=2)
    assert a.hosts != b.hosts
    assert len(set(a.hosts)) == 500
    assert len(set(a.targets)) == len(a.targets)


def test_spike_must_be_a_span(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        generate.main(["--spike", "0.6,0.4"])
    assert "START <= END" in capsys.readouterr().err
