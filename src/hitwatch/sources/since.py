"""`--since`: where in a log file the last N seconds of log time begin."""

from __future__ import annotations

import os

from hitwatch import formats

_PROBE = 1 << 16


def since_offset(path: str, seconds: int, format_name: str = "auto") -> int:
    """The offset of the first line of `path` at most `seconds` of log time before its end.

    Bisects the file on the timestamps of the lines found after probe offsets,
    so only a few blocks of a large file are parsed. Lines out of order by a
    few seconds make the answer as exact as the log is ordered. 0 when no
    timestamp can be read.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return 0
        head = fh.read(_PROBE)
        lines = formats.decode_lines(head[: head.rfind(b"\n") + 1] or head).lines
        name = format_name if format_name != "auto" else formats.detect(lines)
        if name is None:
            return 0
        fmt = formats.make(name)

        def first_ts(offset: int) -> tuple[int, int] | None:
            """(ts, start) of the first parsable line starting at or after `offset`."""
            start = offset
            if offset > 0:
                fh.seek(offset - 1)
                data = fh.read(_PROBE)
                nl = data.find(b"\n")
                if nl < 0:
                    return None
                data = data[nl + 1 :]
                start = offset + nl
            else:
                fh.seek(0)
                data = fh.read(_PROBE)
            for raw in data.split(b"\n")[:-1]:
                row = fmt.parse_line(raw.decode("utf-8", "replace").removesuffix("\r"))
                if not isinstance(row, str):
                    return row[0], start
                start += len(raw) + 1
            return None

        last: int | None = None
        fh.seek(max(0, size - _PROBE))
        tail = fh.read()
        for raw in reversed(tail.split(b"\n")):
            row = fmt.parse_line(raw.decode("utf-8", "replace").removesuffix("\r"))
            if not isinstance(row, str):
                last = row[0]
                break
        if last is None:
            return 0
        target = last - seconds
        lo, hi = 0, size
        while lo < hi:
            mid = (lo + hi) // 2
            got = first_ts(mid)
            if got is None or got[0] >= target:
                hi = mid
            else:
                lo = mid + 1
        if lo == 0:
            return 0
        got = first_ts(lo)
        return size if got is None else got[1]
