"""Type stub for the compiled kernel (src/hitwatch/native/_kernel.c)."""

CSV: int
CLF: int
DESC: int  # any text format, from its description (Kernel(DESC, ..., desc=...))
MAX_LINE: int
UNIDATA_VERSION: str  # the Unicode version of its digits and spaces (see unicode.h)

PlainInterval = tuple[
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

DescInterval = tuple[
    int,
    int,
    int,
    int,
    int,
    tuple[int, int, int, int, int],
    dict[str, int],
    dict[str, int],
    dict[str, int],
    dict[str, int],  # vhosts (empty when the format has none)
    list[float],  # the durations of its records that have one
]

Interval = PlainInterval | DescInterval
"""An interval's counts; a kernel of format DESC hands over the longer ones."""

Ranked = tuple[tuple[str, int], ...]

PlainReady = tuple[
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

DescReady = tuple[
    int,
    int,
    Ranked,
    Ranked,
    Ranked,
    Ranked,
    int,
    int,
    int,
    Ranked,  # top vhosts, ranked
    tuple[float, float, float, float, int] | None,  # latency: p50, p95, p99, max, records
]

Ready = PlainReady | DescReady
"""A complete interval as the fields of its Report after start_ts and end_ts
(a kernel of format DESC hands over the longer ones)."""

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
    int,  # start(..., lazy=True): the file offset of this block's bytes, its log left out; or -1
]
"""What a feed (or a worker's block, `next`) hands over.

The record log (records=True) holds, per record counted (not late, not
invalid, not a header or an empty line), little-endian and unpadded:
int64 ts, uint16 status (100-599, its three digits as a number; | 0x4000
when a duration follows, | 0x8000 when a vhost does), uint16 method length,
uint32 section length, uint32 host length, [float64 duration, NaN for
none], [uint32 vhost length], then the method, section and host bytes as
the kernel counts them (raw, undecoded; "(other)" where it has no method
or section), [then the vhost's]. A kernel of format DESC sets the flags its
format has fields for on every record; CSV and CLF set none.
`records_columns`, `records_full` and `hitwatch.native.decode_records(_full)`
read it.
"""

Columns = tuple[list[int], list[str], list[str], list[str], list[str]]
"""(ts, sections, hosts, methods, statuses) of a record log, keys decoded with
errors="replace", statuses as their three digits ("404")."""

FullColumns = tuple[
    list[int],
    list[str],
    list[str],
    list[str],
    list[str],
    list[str] | None,  # vhosts: None when no record has one
    list[float | None] | None,  # durations: None when no record has the column
]

def classify(line: bytes, /) -> int: ...

# The columns of a record log (see Fed); ValueError when it is malformed.
def records_columns(log: bytes | bytearray | memoryview, /) -> Columns: ...

# records_columns with the vhosts and durations, of the records with ts in [first, last].
def records_full(
    log: bytes | bytearray | memoryview, first: int = ..., last: int = ..., /
) -> FullColumns: ...

Tally = tuple[list[int], list[str], list[str], list[str], list[str], list[str], list[int]]
"""(ts, sections, hosts, methods, statuses, vhosts, counts): distinct records and how many."""

# One row per distinct record (its bytes) with ts in [first, last], in order of first
# appearance, and how many records had it; vhosts "" where a record has none.
def records_tally(
    log: bytes | bytearray | memoryview, first: int = ..., last: int = ..., /
) -> Tally: ...

# Why the kernel cannot read a description (hitwatch.native.encode_description), or None.
def describe_problem(desc: bytes, /) -> str | None: ...

# One line read with a description (tests): (ts, bytes, section, host, status,
# method, vhost, duration or None), or the reason code of an invalid line.
def parse_line(
    desc: bytes, line: bytes, /
) -> tuple[int, int, str, str, str, str, str, float | None] | int: ...

class Kernel:
    def __init__(
        self,
        format: int,
        interval: int,
        lateness: int,
        top: int = -1,
        records: bool = False,
        desc: bytes = ...,
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
    # (in chunks of at most 4 MiB with records on: their logs wait in the queue).
    # lazy (with records on): a block read from the map hands over its file
    # offset instead of its log, which feeding its bytes again from the state
    # before it makes (chunks are not made smaller then).
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
        lazy: bool = False,
        /,
    ) -> None: ...
    def next(self) -> Fed | None: ...
    def stop(self) -> None: ...
    def chunks(self) -> tuple[int, int, int]: ...
