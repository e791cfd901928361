"""Whole-process speed and peak memory of hitwatch on 10M-line logs, in one table.

    python bench/run.py                        # 10M lines: 2.1 GB Combined, 0.9 GB CSV
    python bench/run.py --lines 200000         # a quick try
    python bench/run.py --python OTHER/.venv/bin/python           # another checkout's hitwatch
    python bench/run.py --compare before=OTHER/.venv/bin/python   # this one's beside it

The logs are made once by this checkout's generator into bench/data/: about a
day of log time (~116 requests/s, 230/s for 5% of it) from 50,000 clients, 300
sections of up to 1,000 paths, all Zipf-weighted; the same records as Combined
and as CSV, and the first tenth of the Combined log for GoAccess (slow).

Each figure is a whole process run on a file just read once (warm page cache),
stdout to /dev/null: `PYTHON -m hitwatch --output jsonl FILE` with defaults
(native engine, two worker threads on two cores), `--workers 1` and `--engine
python`; `wc -l` (the limit: reading the file and finding its lines); GoAccess.
- lines/s, seconds: wall time of the best of --repeat runs (--repeat-slow for
  the pure engine and GoAccess); CPU s: user + system of that run, all threads.
- peak RSS MB: the largest ru_maxrss of the runs. It includes this process's
  own (~15 MB, printed), shared until the child's exec: at that level, "at most".
- vs ref: lines/s over the default hitwatch's (--python) on the same format.
--compare runs the hitwatch rows with other interpreters too, each run right
after --python's, so that before and after a change share one table.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RULES = ROOT / "examples" / "rules.toml"  # one rule of each kind, two grouped
# ~116 requests/s over a day: 0.95 * 110 + 0.05 * 230.
SITE = ["--hosts", "50000", "--sections", "300", "--paths", "1000"]
TRAFFIC = ["--rate", "110", "--spike-rate", "230", "--spike", "0.45,0.5"]
AVERAGE_RATE = 116


class Log(NamedTuple):
    fmt: str  # the generator's --format
    tenth: bool = False  # a tenth of --lines (the start of the full log)


class Case(NamedTuple):
    """A row: a command on a log. `{python}` and `{file}` are filled in; a
    hitwatch case runs once per interpreter (--python and each --compare)."""

    log: str
    name: str
    argv: tuple[str, ...]
    hitwatch: bool = True
    slow: bool = False
    compare: bool = True  # --compare interpreters run it too (options they have)


LOGS = {
    "combined": Log("combined"),
    "csv": Log("csv"),
    "combined/10": Log("combined", True),
    "vcombined": Log("vcombined"),
    "vcombined/10": Log("vcombined", True),
    "caddy": Log("caddy"),
}
HW = ("{python}", "-m", "hitwatch", "--output", "jsonl")
GOACCESS = ("goaccess", "{file}", "--log-format=COMBINED", "-o", "csv")
# The generator's vcombined: Apache's vhost_combined + %D, as a format string.
VCOMBINED_D = '%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D'


def braced(text: str) -> str:
    """`text` as a literal in a case's argv (which str.format fills in)."""
    return text.replace("{", "{{").replace("}", "}}")


GOACCESS_VCOMBINED_D = (
    "goaccess",
    "{file}",
    "--log-format=" + braced('%v:%^ %h %^[%d:%t %^] "%r" %s %b "%R" "%u" %D'),
    "--date-format=%d/%b/%Y",
    "--time-format=%H:%M:%S",
    "-o",
    "csv",
)
CASES = [
    *(
        case
        for log in ("combined", "csv")
        for case in (
            Case(log, "default", (*HW, "{file}")),
            Case(log, "--workers 1", (*HW, "--workers", "1", "{file}")),
            Case(log, "--engine python", (*HW, "--engine", "python", "{file}"), slow=True),
            Case(log, "wc -l", ("wc", "-l", "{file}"), hitwatch=False),
        )
    ),
    Case(
        "combined",
        "--config rules.toml",
        (*HW, "--config", str(RULES), "{file}"),
        compare=False,
    ),
    Case(
        "combined",
        "--config rules.toml --engine python",
        (*HW, "--engine", "python", "--config", str(RULES), "{file}"),
        slow=True,
        compare=False,
    ),
    Case("combined/10", "goaccess", GOACCESS, hitwatch=False, slow=True),
    Case(
        "vcombined",
        "--log-format FORMAT",
        (*HW, "--log-format", braced(VCOMBINED_D), "{file}"),
        compare=False,
    ),
    Case(
        "vcombined",
        "--log-format FORMAT --engine python",
        (*HW, "--engine", "python", "--log-format", braced(VCOMBINED_D), "{file}"),
        slow=True,
        compare=False,
    ),
    Case("vcombined/10", "goaccess", GOACCESS_VCOMBINED_D, hitwatch=False, slow=True),
    Case(
        "caddy",
        "--log-format caddy --engine python",
        (*HW, "--engine", "python", "--log-format", "caddy", "{file}"),
        slow=True,
        compare=False,
    ),
]
# (configuration, column, goal, at least), checked on every full log that has it.
TARGETS = [
    ("default", "lines/s", 10e6, True),
    ("default", "peak RSS MB", 64, False),
    ("--engine python", "lines/s", 600e3, True),
    ("--log-format FORMAT", "lines/s", 5e6, True),
    ("--log-format FORMAT --engine python", "lines/s", 400e3, True),
    ("--log-format caddy --engine python", "lines/s", 500e3, True),
    ("--config rules.toml", "peak RSS MB", 64, False),
    ("--config rules.toml --engine python", "lines/s", 400e3, True),
]
# (configuration, of configuration, at least this share of its lines/s), on the same log.
SHARES = [("--config rules.toml", "default", 0.6)]


class Result:
    """The best run's wall and CPU seconds; the largest peak RSS of all runs."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self.seconds = float("inf")
        self.cpu = 0.0
        self.rss_kib = 0

    @property
    def speed(self) -> float:
        return self.lines / self.seconds

    @property
    def rss_mb(self) -> float:
        return self.rss_kib / 1024


def log_path(log: Log, lines: int) -> tuple[Path, list[str]]:
    """Where the log is kept (its name holds the generator's options: delete
    bench/data/ when the generator changes), and the command that makes it:
    this checkout's generator."""
    n = max(1, lines // 10) if log.tenth else lines
    minutes = lines / AVERAGE_RATE / 60 * 1.002 + 1  # the full log's: a tenth is its start
    options = [*SITE, *TRAFFIC, "--minutes", f"{minutes:.1f}"]
    tag = f"{zlib.crc32(' '.join(options).encode()):08x}"
    path = DATA / f"{log.fmt}-{n}-{tag}.log"
    count = n + 1 if log.fmt == "csv" else n  # the header is a line too
    cmd = [
        sys.executable,
        "-m",
        "hitwatch.generate",
        "--format",
        log.fmt,
        *options,
        "--lines",
        str(count),
    ]
    return path, [*cmd, "-o", str(path.with_suffix(".part"))]


def generate(lines: int, needed: set[str]) -> dict[str, Path]:
    """The logs the cases need, made once (those missing side by side)."""
    paths = {}
    making = []
    start = time.perf_counter()
    for name, log in LOGS.items():
        if name not in needed:
            continue
        path, cmd = log_path(log, lines)
        paths[name] = path
        if not path.exists():
            DATA.mkdir(parents=True, exist_ok=True)
            making.append((path, cmd, subprocess.Popen(cmd)))
    for path, cmd, proc in making:
        if proc.wait() != 0:
            sys.exit(f"failed: {' '.join(cmd)}")
        path.with_suffix(".part").rename(path)
    if making:
        made = ", ".join(f"{p.name} ({short(p.stat().st_size, 'B')})" for p, _, _ in making)
        print(f"generated in {time.perf_counter() - start:.1f} s: {made}")
    return paths


def warm(path: Path) -> None:
    """Read the file once, 1 MiB at a time (this process stays small: a child's
    ru_maxrss counts the memory it shared with its parent before exec)."""
    buf = bytearray(1 << 20)
    with path.open("rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def run(cmd: list[str], result: Result) -> None:
    """One run of `cmd`, kept in `result` when it is the fastest so far."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()  # until the process ends
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err.decode(errors='replace')[-2000:]}")
    if elapsed < result.seconds:
        result.seconds, result.cpu = elapsed, usage.ru_utime + usage.ru_stime
    result.rss_kib = max(result.rss_kib, usage.ru_maxrss)


def prepare(python: str) -> str:
    """Write hitwatch's .pyc files as `pip install` does (an editable install
    run with PYTHONDONTWRITEBYTECODE=1 would compile every module at each start);
    say which Python and which hitwatch these are."""
    code = (
        "import compileall, sys, hitwatch; compileall.compile_dir(hitwatch.__path__[0], quiet=1); "
        "print(f'Python {sys.version.split()[0]}, hitwatch in {hitwatch.__path__[0]}')"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{python} cannot run hitwatch:\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def measure(
    cases: list[Case], paths: dict[str, Path], pythons: dict[str, str], args: argparse.Namespace
) -> dict[tuple[str, str], Result]:
    """Every case's figures by (log, configuration); each interpreter's run of
    a case right after the others', so that drift of the machine hits all alike."""
    results: dict[tuple[str, str], Result] = {}
    for case in cases:
        warm(paths[case.log])
        lines = max(1, args.lines // 10) if LOGS[case.log].tenth else args.lines
        labels = list(pythons)[: len(pythons) if case.compare else 1] if case.hitwatch else [""]
        for _ in range(args.repeat_slow if case.slow else args.repeat):
            for label in labels:
                config = f"{label} {case.name}" if case.hitwatch and len(pythons) > 1 else case.name
                python, file = pythons.get(label, ""), paths[case.log]
                cmd = [a.format(python=python, file=file) for a in case.argv]
                run(cmd, results.setdefault((case.log, config), Result(lines)))
    return results


def short(n: float, unit: str = "") -> str:
    """3 digits: 10M, 200k, 2.08 GB."""
    scale, prefix = next(
        (s, p) for s, p in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")) if n >= s or s == 1
    )
    return f"{n / scale:.3g}{' ' if unit else ''}{prefix}{unit}"


def table(results: dict[tuple[str, str], Result], paths: dict[str, Path], ref: str) -> None:
    """The Markdown table; "vs ref" is lines/s over the `ref` configuration's
    on the same format (the full Combined log's for its tenth)."""
    header = ["log", "configuration", "lines/s", "seconds", "CPU s", "peak RSS MB", "vs ref"]
    rows = [header]
    for (log, config), r in results.items():
        base = results.get(("combined" if LOGS[log].tenth else log, ref))
        size = paths[log].stat().st_size
        rows.append(
            [
                f"{LOGS[log].fmt} {short(r.lines)} ({short(size, 'B')})",
                config,
                f"{r.speed:,.0f}",
                f"{r.seconds:.3f}",
                f"{r.cpu:.3f}",
                f"{r.rss_mb:.1f}",
                "ref" if base is r else f"{r.speed / base.speed:.3g}x" if base else "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    rows.insert(1, ["-" * w for w in widths])
    for i, row in enumerate(rows):
        cells = [
            c.ljust(w) if j < 2 or i == 0 else c.rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("| " + " | ".join(cells) + " |")


def check_targets(results: dict[tuple[str, str], Result], prefixes: list[str]) -> None:
    for prefix in prefixes:
        for log in (name for name, log in LOGS.items() if not log.tenth):
            for config, column, goal, at_least in TARGETS:
                r = results.get((log, prefix + config))
                if r is None:
                    continue
                value = r.speed if column == "lines/s" else r.rss_mb
                ok = value >= goal if at_least else value <= goal
                print(
                    f"  {'PASS' if ok else 'FAIL'}  {prefix}{config} on {log}: {column} "
                    f"{value:,.1f} {'>=' if at_least else '<='} {goal:,.0f}"
                )
            for config, of, share in SHARES:
                r, base = results.get((log, prefix + config)), results.get((log, prefix + of))
                if r is None or base is None:
                    continue
                got = r.speed / base.speed
                print(
                    f"  {'PASS' if got >= share else 'FAIL'}  {prefix}{config} on {log}: "
                    f"{got:.0%} of {of}'s lines/s >= {share:.0%}"
                )


def check_compared(results: dict[tuple[str, str], Result], prefixes: list[str]) -> None:
    """Issue 16's rule: no figure of the first label worse than another's by more than 5%."""
    this, *others = prefixes
    for (log, config), r in results.items():
        if not config.startswith(this):
            continue
        for other in others:
            was = results.get((log, other + config[len(this) :]))
            if was is None:
                continue
            for column, now, then, better in (
                ("lines/s", r.speed, was.speed, 1),
                ("peak RSS MB", r.rss_mb, was.rss_mb, -1),
            ):
                change = (now - then) / then * better  # > 0: better
                print(
                    f"  {'PASS' if change >= -0.05 else 'FAIL'}  {config} on {log}: {column} "
                    f"{now:,.1f} against {other}{then:,.1f} ({change:+.1%})"
                )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--lines", type=int, default=10_000_000, help="lines of the big logs")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure, the best counts")
    p.add_argument("--repeat-slow", type=int, default=1, help="runs of the pure engine, GoAccess")
    p.add_argument("--python", default=sys.executable, help="the interpreter under test")
    p.add_argument("--label", default="this", help="its name in the table beside --compare")
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="LABEL=PYTHON",
        help="also run the hitwatch rows with this interpreter (repeatable)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="WORD",
        help="run only the rows whose log or configuration holds WORD (repeatable)",
    )
    args = p.parse_args()
    pythons = {args.label: args.python}
    for item in args.compare:
        label, sep, python = item.partition("=")
        if not sep or not label or not python or label in pythons:
            p.error(f"--compare wants LABEL=PYTHON with a new label, got {item!r}")
        pythons[label] = python
    cases = [c for c in CASES if not args.only or any(w in f"{c.log} {c.name}" for w in args.only)]
    if not shutil.which("goaccess"):
        print("goaccess is not installed: its row is skipped")
        cases = [c for c in cases if c.argv[0] != "goaccess"]

    paths = generate(args.lines, {case.log for case in cases})
    for label, python in pythons.items():
        print(f"{label}: {python}: {prepare(python)}")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    results = measure(cases, paths, pythons, args)
    load_after = Path("/proc/loadavg").read_text().split()[:3]

    prefixes = [f"{label} " for label in pythons] if len(pythons) > 1 else [""]
    ref = prefixes[0] + "default"
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{os.cpu_count()} cores, best of {args.repeat} "
        f"({args.repeat_slow} for the slow rows); load average {' '.join(load_before)} "
        f"before, {' '.join(load_after)} after; this process's peak RSS {own:.1f} MB, "
        "which a child's counts until its exec\n"
    )
    table(results, paths, ref)
    print(f"\nTargets (meant for 10M lines; these logs have {short(args.lines)}):")
    check_targets(results, prefixes)
    if len(prefixes) > 1:
        print("\nAgainst the other labels (worse by at most 5%):")
        check_compared(results, prefixes)
    fast, slow = results.get(("combined", ref)), results.get(("combined/10", "goaccess"))
    if fast and slow:
        print(f"\n{ref} on Combined: {fast.speed / slow.speed:.0f}x GoAccess's lines/s")
    pure = results.get(("vcombined", prefixes[0] + "--log-format FORMAT --engine python"))
    fast = results.get(("vcombined", prefixes[0] + "--log-format FORMAT"))
    slow = results.get(("vcombined/10", "goaccess"))
    if fast and slow:
        print(f"native on vcombined + %D: {fast.speed / slow.speed:.0f}x GoAccess's lines/s")
    if pure and slow:
        print(f"pure engine on vcombined + %D: {pure.speed / slow.speed:.1f}x GoAccess's lines/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
