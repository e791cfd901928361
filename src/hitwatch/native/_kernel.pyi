"""Type stub for the compiled kernel (src/hitwatch/native/_kernel.c)."""

CSV: int
CLF: int
MAX_LINE: int

Interval = tuple[
    int,  # k: the interval [kR, kR + R)
    int,  # hits
    int,  # bytes
    int,  # late lines attributed to it
    int,  # invalid lines attributed to it
    tuple[int, int, int, int, int],  # hits by status class 1xx..5xx
    dict[str, int],  # sections
    dict[str, int],  # hosts
    dict[str, int],  # methods
]

Ranked = tuple[tuple[str, int], ...]

Ready = tuple[
    int,  # hits
    int,  # bytes
    Ranked,  # status classes with hits, by name
    Ranked,  # methods, ranked
    Ranked,  # top sections, ranked
    Ranked,  # top hosts, ranked
    int,  # 5xx hits
    int,  # late lines attributed to it
    int,  # invalid lines attributed to it
]
"""A complete interval as the fields of its Report after start_ts and end_ts."""

Fed = tuple[
    int,  # bytes of `data` used: up to its last newline, or all of it when `last`
    int,  # started (0 or 1)
    int,  # start
    int,  # final: F, the last final second
    int,  # max_ts: M
    int,  # min_ts: smallest ts before the start
    int,  # invalid lines read before the start, not yet attributed
    int,  # rows: accepted + late
    int,  # late
    int,  # invalid
    int,  # headers
    int,  # empty lines
    int,  # lines
    int,  # max_late of this block
    dict[int, int],  # hits per final second (every second when `all`)
    list[Interval],  # complete intervals (every interval when `all`), by k
    list[tuple[int, int, int]],  # invalid lines: (line number, reason code, CSV field count)
    dict[int, Ready],  # complete intervals ranked here (k > floor), by k; not in the list
    bytes,  # records=True: the log of the records accepted, in reading order; else b""
]
"""What a feed (or a worker's block, `next`) hands over.

The record log (records=True) holds, per record counted (not late, not
invalid, not a header or an empty line), little-endian and unpadded:
int64 ts, uint16 status (100-599, its three digits as a number), uint16
method length, uint32 section length, uint32 host length, then the method,
section and host bytes as the kernel counts them (raw, undecoded; "(other)"
where it has no method or section). `records_columns` and
`hitwatch.native.decode_records` read it.
"""

Columns = tuple[list[int], list[str], list[str], list[str], list[str]]
"""(ts, sections, hosts, methods, statuses) of a record log, keys decoded with
errors="replace", statuses as their three digits ("404")."""

def classify(line: bytes, /) -> int: ...

# The columns of a record log (see Fed); ValueError when it is malformed.
def records_columns(log: bytes | bytearray | memoryview, /) -> Columns: ...

class Kernel:
    def __init__(
        self, format: int, interval: int, lateness: int, top: int = -1, records: bool = False
    ) -> None: ...
    def set_state(
        self,
        started: bool,
        start: int,
        final: int,
        max_ts: int,
        min_ts: int,
        pending: int,
        floor: int = ...,
        /,
    ) -> None: ...
    def feed(
        self, data: bytes | bytearray | memoryview, first_lineno: int, last: bool, all: bool, /
    ) -> Fed: ...
    # Not on Windows (no threads there): read a regular file with worker threads
    # (in chunks of at most 8 MiB with records on: their logs wait in the queue).
    def start(
        self,
        fd: int,
        offset: int,
        head: bytes,
        first_lineno: int,
        block: int,
        skipping: bool,
        workers: int,
        chunk: int,
        map: bool = True,
        size: int = -1,
        check: bool = True,
        /,
    ) -> None: ...
    def next(self) -> Fed | None: ...
    def stop(self) -> None: ...
    def chunks(self) -> tuple[int, int, int]: ...
