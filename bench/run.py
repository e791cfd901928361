"""Whole-process throughput and peak memory of hitwatch, beside baselines, in one run.

    python bench/run.py            # 1M-line CSV and Combined logs (generated once)
    python bench/run.py --lines 200000 --repeat 1

Prints, for each log: lines/s and peak RSS of `hitwatch --output jsonl` (the
native engine with its default worker threads, two on two CPUs, and with
one; and the pure engine), of a plain Python loop that only reads and
splits the lines (the floor for any pure-Python tool), and of GoAccess on
the Combined log when it is installed. hitwatch's bytecode is compiled
first, as `pip install` does.
A second, 4x shorter log of each format shows whether peak RSS grows with
the length of the input.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"

PLAIN_LOOP = (
    "import sys\n"
    "n = 0\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for line in f:\n"
    "        n += len(line.split(b' ', 3))\n"
)


def generate(fmt: str, lines: int) -> Path:
    """The benchmark log, made by the project's own generator (cached in bench/data)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"{fmt}-{lines}.log"
    if not path.exists():
        # ~46 requests/s with a spike: 1M lines is about six hours of log time.
        minutes = max(1.0, lines / 46 / 60 * 1.2)
        subprocess.run(
            [
                *(sys.executable, "-m", "hitwatch.generate", "--format", fmt),
                *("--lines", str(lines), "--minutes", f"{minutes:.1f}"),
                *("--rate", "40", "--spike-rate", "90", "-o", str(path)),
            ],
            check=True,
        )
    return path


def compile_bytecode() -> None:
    """Write hitwatch's .pyc files, as `pip install` does: an editable install
    run with PYTHONDONTWRITEBYTECODE=1 (as in CI) would otherwise compile
    every module from source at each start, about 15 ms of every run."""
    code = (
        "import compileall, pathlib, hitwatch; "
        "compileall.compile_dir(pathlib.Path(hitwatch.__file__).parent, quiet=1)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def measure(cmd: list[str], repeat: int) -> tuple[float, int, float]:
    """Best wall time over `repeat` runs, the peak RSS (KiB) of the child, and
    the CPU time (user + system, all threads) of the best run: above the wall
    time when several cores worked."""
    best = float("inf")
    peak = 0
    cpu = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}")
        if elapsed < best:
            best, cpu = elapsed, usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss)
    return best, peak, cpu


def row(name: str, lines: int, seconds: float, rss_kib: int, cpu: float) -> str:
    return (
        f"{name:<34} {lines / seconds:>12,.0f} lines/s  {seconds:7.3f} s"
        f"  {cpu:6.3f} s CPU  {rss_kib / 1024:6.1f} MB"
    )


def first_line_time(cmd: list[str], repeat: int) -> float:
    """Best time from process start to its first line on stdout (time to first report)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        proc.stdout.readline()
        best = min(best, time.perf_counter() - start)
        proc.kill()
        proc.wait()
    return best


def repeated(path: Path, times: int) -> Path:
    """`path` written `times` times over (for peak RSS on a long input; later copies are late)."""
    out = DATA / f"{path.stem}-x{times}.log"
    if not out.exists():
        # Streamed: a forked child's ru_maxrss includes the parent's memory
        # before exec, so this process must stay small while measuring.
        with out.open("wb") as f:
            for _ in range(times):
                with path.open("rb") as src:
                    shutil.copyfileobj(src, f, 1 << 20)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    p.add_argument("--formats", default="csv,combined")
    p.add_argument(
        "--hitwatch-args", default="", help="extra options for hitwatch, e.g. '--engine python'"
    )
    p.add_argument(
        "--engines",
        default="native,python",
        help="hitwatch engines to run side by side (default: native,python)",
    )
    p.add_argument(
        "--rss-times",
        type=int,
        default=0,
        help="also measure peak RSS of the native engine on the log repeated N times "
        "(10 gives a 10M-line file from the 1M-line one)",
    )
    args = p.parse_args()
    extra = args.hitwatch_args.split()
    engines = [e for e in args.engines.split(",") if e]
    goaccess = shutil.which("goaccess")
    hw = [sys.executable, "-m", "hitwatch"]
    compile_bytecode()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, best of {args.repeat}")
    version = min(measure([*hw, "--version"], 1)[0] for _ in range(max(5, args.repeat)))
    print(f"hitwatch --version: {version * 1000:.0f} ms")
    for fmt in args.formats.split(","):
        for lines in (args.lines // 4, args.lines):
            path = generate(fmt, lines)
            print(f"\n{fmt}, {lines:,} lines ({path.stat().st_size / 2**20:.0f} MiB)")
            speed: dict[str, float] = {}
            for engine in engines:
                variants: list[list[str]] = [[]]
                if engine == "native" and "--workers" not in extra:
                    variants.append(["--workers", "1"])  # one kernel thread
                for more in variants:
                    opts = ["--engine", engine, *more, *extra]
                    cmd = [*hw, "--output", "jsonl", *opts, str(path)]
                    t, rss, cpu = measure(cmd, args.repeat)
                    speed[" ".join([engine, *more])] = lines / t
                    print(row(f"hitwatch {' '.join(opts)}", lines, t, rss, cpu))
            t, rss, cpu = measure([sys.executable, "-c", PLAIN_LOOP, str(path)], args.repeat)
            print(row("baseline: plain Python read+split", lines, t, rss, cpu))
            if goaccess and fmt == "combined":
                cmd = [goaccess, str(path), "--log-format=COMBINED", "-o", "csv"]
                t, rss, cpu = measure(cmd, 1)
                speed["goaccess"] = lines / t
                print(row("goaccess", lines, t, rss, cpu))
            if "native" in speed:
                for other in ("native --workers 1", "python", "goaccess"):
                    if other in speed:
                        print(f"  native / {other}: {speed['native'] / speed[other]:.1f}x")
                first = first_line_time(
                    [*hw, "--output", "jsonl", "--engine", "native", str(path)], args.repeat
                )
                print(f"  native, time to first report: {first * 1000:.0f} ms")
        if args.rss_times > 1 and "native" in engines:
            big = repeated(generate(fmt, args.lines), args.rss_times)
            n = args.lines * args.rss_times
            t, rss, cpu = measure([*hw, "--output", "jsonl", "--engine", "native", str(big)], 1)
            print(row(f"native, {n:,} lines (repeated)", n, t, rss, cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
