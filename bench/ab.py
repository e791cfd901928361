"""A/B timing of whole commands, run alternately so that drift hits both alike.

    python bench/ab.py 20 "python -m hitwatch --output jsonl bench/data/combined-1000000.log" \\
        "PYTHONPATH=/tmp/base/src python -m hitwatch --output jsonl bench/data/combined-1000000.log"

Each command runs N times through the shell, output discarded; the order is
reversed every other round. Prints the minimum, first quartile and median
wall time of each. For changes of a few milliseconds, where one bench run
(best of 3) is within this machine's drift.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    rounds, commands = int(argv[0]), argv[1:]
    times: dict[str, list[float]] = {c: [] for c in commands}
    for i in range(rounds):
        for command in commands if i % 2 == 0 else commands[::-1]:
            start = time.perf_counter()
            subprocess.run(
                command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            times[command].append(time.perf_counter() - start)
    for command in commands:
        t = sorted(times[command])
        print(
            f"min {t[0] * 1000:6.1f}  q1 {t[len(t) // 4] * 1000:6.1f}  "
            f"med {statistics.median(t) * 1000:6.1f} ms  {command}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
