"""What CPython itself costs the pure engine, per line, on the benchmark's logs.

    python bench/floors.py                 # 100k lines of each log
    python bench/floors.py --lines 20000

The pure engine's throughput is bounded by a few library calls a block of
lines needs whatever the engine does around them: the one `findall` of a text
format's block pattern, msgspec's decoding of a block of JSON lines, the
`Counter` updates that count a line's section, host, status and method. Each
row times one of them alone (best of --repeat, in this process, on text
already decoded), beside the whole block parse of the same format, and says
the lines/s that time alone would allow. The logs are bench/run.py's (the
same generator and options), made once into bench/data/ at this length.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable

from hitwatch import formats
from hitwatch.formats import clf as clf_module
from hitwatch.formats.base import Text, decode_lines
from hitwatch.formats.jsonlines import JsonFormat
from hitwatch.formats.text import TextFormat
from run import VCOMBINED_D, generate


def best(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def count(text: Text, fmt: formats.Format) -> Callable[[], object]:
    block = fmt.parse(text)

    def work() -> None:
        for column in (block.sections, block.hosts, block.statuses, block.methods):
            Counter().update(column)

    return work


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=100_000, help="lines of each log")
    p.add_argument("--repeat", type=int, default=5, help="runs per figure, the best counts")
    args = p.parse_args()
    paths = generate(args.lines, {"combined", "vcombined", "caddy"})
    texts = {name: decode_lines(path.read_bytes()) for name, path in paths.items()}

    clf = formats.make("combined")
    text_fmt = formats.make(formats.resolve(log_format=VCOMBINED_D))
    caddy = formats.make("caddy")
    assert isinstance(text_fmt, TextFormat) and isinstance(caddy, JsonFormat)
    # The steps are the parsers' own: their compiled pattern and decoder.
    clf_pattern = clf_module._BLOCK
    text_pattern = text_fmt._block
    assert text_pattern is not None
    decoder = caddy._decoder
    combined, vcombined, json = texts["combined"], texts["vcombined"], texts["caddy"]
    rows: list[tuple[str, str, Callable[[], object], int]] = [
        (
            "combined",
            "findall of the block pattern",
            lambda: clf_pattern.findall(combined.text),
            combined.count,
        ),
        ("combined", "whole block parse", lambda: clf.parse(combined), combined.count),
        ("combined", "4 Counter updates", count(combined, clf), combined.count),
        (
            "vcombined + %D",
            "findall of the block pattern",
            lambda: text_pattern.findall(vcombined.text),
            vcombined.count,
        ),
        ("vcombined + %D", "whole block parse", lambda: text_fmt.parse(vcombined), vcombined.count),
        ("caddy", "msgspec decode", lambda: decoder.decode_lines(json.text), json.count),
        ("caddy", "whole block parse", lambda: caddy.parse(json), json.count),
    ]
    print(f"{args.lines:,} lines a log, best of {args.repeat}\n")
    print("| log | step | µs a line | lines/s it alone allows |")
    print("| --- | --- | --- | --- |")
    for log, step, work, lines in rows:
        per_line = best(work, args.repeat) / lines
        print(f"| {log} | {step} | {per_line * 1e6:.2f} | {1 / per_line:,.0f} |")


if __name__ == "__main__":
    main()
