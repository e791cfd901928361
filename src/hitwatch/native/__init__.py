"""The native kernel: C that turns bytes into counts (see `_kernel.c`).

`_kernel` is built by `pip install .` when a C compiler is present. It parses
blocks of lines (`parse.h`, the rules of `hitwatch.formats` on bytes), runs
the per-line part of the time model (late lines, SPEC §2) and counts per
second and per interval (`kernel_core.h`); worker threads can read a regular
file in a map of it (`reader.h`). Everything after counting (reports, rules,
events, their encoding) is Python's: `hitwatch.readers.native` hands the
counts to `Engine.absorb`. With `Kernel(..., records=True)` it also hands over
the log of the records it accepted (`decode_records` says what is in it).

Besides CSV and CLF, which have parsers of their own, the kernel reads any
text format from its description (`formats.describe`): `description` turns a
format's into the bytes `Kernel(DESC, ..., desc=...)` takes, and `format_code`
says whether the kernel reads a registered format (`FormatInfo.native`).

This module only finds the compiled module and says what it can do; it is
imported when a run may use the kernel.
"""

from __future__ import annotations

import math
import struct
import unicodedata
from collections import Counter
from types import ModuleType

from hitwatch import formats
from hitwatch.formats.text import TextFormat

LIMIT = 1 << 60
"""Larger --interval or --lateness values go to the pure engine (the kernel is 64-bit)."""

_REASONS = {
    1: "line longer than 64 KiB",
    2: "broken CSV quoting",
    4: "bad date",
    5: "bad status",
    6: "bad bytes",
    7: "not a Common/Combined Log Format line",
    8: "bad timestamp",
}
_FIELDS = 3
_NOT_LINE = 9  # a description's line that has not its shape

DESC = formats.TEXT
"""`FormatInfo.native` of a text format the kernel reads from its description."""

_import_error: str | None = None


_RECORD = struct.Struct("<qHHII")
"""A record's head in a record log: ts, status, method, section and host lengths."""

_DURATION = struct.Struct("<d")
_VHOST_LEN = struct.Struct("<I")
_WITH_DURATION, _WITH_VHOST, _STATUS = 0x4000, 0x8000, 0x03FF
"""The flags of a record's status field, and the status's own bits."""

Columns = tuple[list[int], list[str], list[str], list[str], list[str]]
"""(ts, sections, hosts, methods, statuses) of accepted records."""

FullColumns = tuple[
    list[int],
    list[str],
    list[str],
    list[str],
    list[str],
    list[str] | None,
    list[float | None] | None,
]
"""Columns, then the vhosts and the durations (None when no record has them)."""


Tally = tuple[list[int], list[str], list[str], list[str], list[str], list[str], list[int]]
"""(ts, sections, hosts, methods, statuses, vhosts, counts): distinct records and how many."""


def tally_records(blob: bytes, first: int = -(2**63), last: int = 2**63 - 1) -> Tally:
    """The records of a log with ts in [first, last], one row per distinct (ts,
    section, host, method, status, vhost) with how many had it, in order of
    first appearance, vhosts "" where a record has none: the reference for
    `_kernel.records_tally`, which tells rows apart by their bytes (two that
    decode alike may be two rows there, their counts adding up to this one's)."""
    ts, sections, hosts, methods, statuses, vhosts, _ = decode_records_full(blob, first, last)
    vh = vhosts if vhosts is not None else [""] * len(ts)
    counts = Counter(zip(ts, sections, hosts, methods, statuses, vh, strict=True))
    if not counts:
        return [], [], [], [], [], [], []
    t, s, h, m, st, v = (list(column) for column in zip(*counts, strict=True))
    return t, s, h, m, st, v, list(counts.values())


def decode_records(blob: bytes) -> Columns:
    """The columns of a record log (`Kernel(..., records=True)`, the last element
    of each result): the reference for `_kernel.records_columns`, which is fast.

    Per record, little-endian: int64 ts, uint16 status (100-599, and the
    flags 0x4000: a duration, 0x8000: a vhost), uint16 method length, uint32
    section length, uint32 host length; with 0x4000 a float64 duration (NaN:
    none), with 0x8000 a uint32 vhost length; then the method, section and
    host bytes, raw, and the vhost's. Keys are decoded with errors="replace"
    and statuses given as their three digits. ValueError when the log is
    malformed (cut short, a length past its end, a status out of range, a
    flag unknown). `decode_records_full` gives the vhosts and durations too.
    """
    ts, sections, hosts, methods, statuses, _, _ = decode_records_full(blob)
    return ts, sections, hosts, methods, statuses


def decode_records_full(blob: bytes, first: int = -(2**63), last: int = 2**63 - 1) -> FullColumns:
    """`decode_records` with the vhosts and the durations of the records: each
    None when no record of the log has that column, else "" or None where one
    has not; only the records with ts in [first, last] (the reference for
    `_kernel.records_full`)."""
    data = bytes(blob)
    ts: list[int] = []
    sections: list[str] = []
    hosts: list[str] = []
    methods: list[str] = []
    statuses: list[str] = []
    vhosts: list[str] = []
    durations: list[float | None] = []
    any_vhost = any_duration = False
    head = _RECORD.size
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < head:
            raise ValueError("a malformed record log: a record cut short")
        t, field, method_len, section_len, host_len = _RECORD.unpack_from(data, pos)
        status = field & _STATUS
        if not 100 <= status <= 599 or field & ~(_STATUS | _WITH_DURATION | _WITH_VHOST):
            raise ValueError(f"a malformed record log: status {field}")
        at = pos + head
        duration: float | None = None
        if field & _WITH_DURATION:
            if end - at < _DURATION.size:
                raise ValueError("a malformed record log: a record cut short")
            (value,) = _DURATION.unpack_from(data, at)
            duration = None if math.isnan(value) else value
            at += _DURATION.size
            any_duration = True
        vhost_len = 0
        if field & _WITH_VHOST:
            if end - at < _VHOST_LEN.size:
                raise ValueError("a malformed record log: a record cut short")
            (vhost_len,) = _VHOST_LEN.unpack_from(data, at)
            at += _VHOST_LEN.size
            any_vhost = True
        section_at = at + method_len
        host_at = section_at + section_len
        vhost_at = host_at + host_len
        pos = vhost_at + vhost_len
        if pos > end:
            raise ValueError("a malformed record log: a key past its end")
        if not first <= t <= last:
            continue
        ts.append(t)
        methods.append(data[at:section_at].decode("utf-8", "replace"))
        sections.append(data[section_at:host_at].decode("utf-8", "replace"))
        hosts.append(data[host_at:vhost_at].decode("utf-8", "replace"))
        statuses.append(str(status))
        vhosts.append(data[vhost_at:pos].decode("utf-8", "replace"))
        durations.append(duration)
    return (
        ts,
        sections,
        hosts,
        methods,
        statuses,
        vhosts if any_vhost else None,
        durations if any_duration else None,
    )


def kernel_module() -> ModuleType | None:
    """The compiled module, or None when it was not built (see `why_not`)."""
    global _import_error
    try:
        from hitwatch.native import _kernel
    except ImportError as exc:
        _import_error = str(exc)
        return None
    return _kernel


def available() -> bool:
    return kernel_module() is not None


def why_not() -> str:
    """Why the kernel cannot be used, for notes."""
    kernel_module()
    return _import_error or "it is available"


def format_code(name: str) -> int | None:
    """The kernel's code for a registered format, or None when it does not parse it
    (a description it cannot read: `description`)."""
    module = kernel_module()
    native = formats.FORMATS[name].native
    if module is None or native is None:
        return None
    if native == DESC and description(name) is None:
        return None
    code: int = getattr(module, native.upper())
    return code


_descriptions: dict[str, bytes | None] = {}


def description(name: str) -> bytes | None:
    """What `Kernel(DESC, ..., desc=...)` takes for registered format `name`,
    a text format (`FormatInfo.native` is DESC), or None when the kernel cannot
    read it: not built, another Unicode version than this Python's (ports
    and X-Forwarded-For need its digits and spaces), a text that is not UTF-8
    or holds U+FFFD, a time layout with more than 4 of %e, %f and %z."""
    if name in _descriptions:
        return _descriptions[name]
    module = kernel_module()
    fmt = formats.make(name) if module is not None else None
    blob: bytes | None = None
    if (
        isinstance(fmt, TextFormat)
        and module is not None
        and unicodedata.unidata_version == module.UNIDATA_VERSION
    ):
        blob = encode_description(fmt)
        if blob is not None and module.describe_problem(blob) is not None:
            blob = None
    _descriptions[name] = blob
    return blob


def encode_description(fmt: TextFormat) -> bytes | None:
    """A TextFormat's description (`Description.as_data()`) as the kernel takes
    it: a flags byte (1: the client from X-Forwarded-For), then per item its
    kind, field code, text length (uint16, little-endian) and text (UTF-8).
    None when a text does not encode or is too long."""
    out = bytearray([1 if fmt.xff else 0])
    try:
        data = fmt.desc.as_data()
    except UnicodeEncodeError:  # lone surrogates of a format string from argv
        return None
    for kind, field, text in data:
        if len(text) > 0xFFFF:
            return None
        out += struct.pack("<BBH", kind, field, len(text)) + text
    return bytes(out)


def what_of(name: str) -> str:
    """The reason the Python parser of format `name` gives a line that has not its shape."""
    fmt = formats.make(name)
    return f"not a {fmt.name} line"


def detect(head: bytes) -> str | None:
    """formats.detect by the kernel, on the undecoded first lines of a source."""
    module = kernel_module()
    assert module is not None
    return formats.detect_bytes(head, module.classify)


def supports(interval: int, lateness: int) -> bool:
    return 0 < interval < LIMIT and 0 <= lateness < LIMIT


def reason(code: int, nfields: int, what: str = "invalid line") -> str:
    """The kernel's reason code for an invalid line, in the Python parsers' words
    (`what`: a description's line that has not its shape, see `what_of`)."""
    if code == _FIELDS:
        return f"{nfields} CSV fields, expected 7"
    if code == _NOT_LINE:
        return what
    return _REASONS.get(code, "invalid line")
