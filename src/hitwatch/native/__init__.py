"""The native kernel: C that turns bytes into counts (see `_kernel.c`).

`_kernel` is built by `pip install .` when a C compiler is present. It parses
blocks of lines (`parse.h`, the rules of `hitwatch.formats` on bytes), runs
the per-line part of the time model (late lines, SPEC §2) and counts per
second and per interval (`kernel_core.h`); worker threads can read a regular
file in a map of it (`reader.h`). Everything after counting (reports, rules,
events, their encoding) is Python's: `hitwatch.readers.native` hands the
counts to `Engine.absorb`. With `Kernel(..., records=True)` it also hands over
the log of the records it accepted (`decode_records` says what is in it).

This module only finds the compiled module and says what it can do; it is
imported when a run may use the kernel.
"""

from __future__ import annotations

import struct
from types import ModuleType

from hitwatch import formats

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

_import_error: str | None = None


_RECORD = struct.Struct("<qHHII")
"""A record's head in a record log: ts, status, method, section and host lengths."""

Columns = tuple[list[int], list[str], list[str], list[str], list[str]]
"""(ts, sections, hosts, methods, statuses) of accepted records."""


def decode_records(blob: bytes) -> Columns:
    """The columns of a record log (`Kernel(..., records=True)`, the last element
    of each result): the reference for `_kernel.records_columns`, which is fast.

    Per record, little-endian: int64 ts, uint16 status (100-599), uint16
    method length, uint32 section length, uint32 host length, then the method,
    section and host bytes, raw. Keys are decoded with errors="replace" and
    statuses given as their three digits. ValueError when the log is malformed
    (cut short, a length past its end, a status out of range).
    """
    data = bytes(blob)
    ts: list[int] = []
    sections: list[str] = []
    hosts: list[str] = []
    methods: list[str] = []
    statuses: list[str] = []
    head = _RECORD.size
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < head:
            raise ValueError("a malformed record log: a record cut short")
        t, status, method_len, section_len, host_len = _RECORD.unpack_from(data, pos)
        if not 100 <= status <= 599:
            raise ValueError(f"a malformed record log: status {status}")
        at = pos + head
        section_at = at + method_len
        host_at = section_at + section_len
        pos = host_at + host_len
        if pos > end:
            raise ValueError("a malformed record log: a key past its end")
        ts.append(t)
        methods.append(data[at:section_at].decode("utf-8", "replace"))
        sections.append(data[section_at:host_at].decode("utf-8", "replace"))
        hosts.append(data[host_at:pos].decode("utf-8", "replace"))
        statuses.append(str(status))
    return ts, sections, hosts, methods, statuses


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
    """The kernel's code for a registered format, or None when it does not parse it."""
    module = kernel_module()
    native = formats.FORMATS[name].native
    if module is None or native is None:
        return None
    code: int = getattr(module, native.upper())
    return code


def detect(head: bytes) -> str | None:
    """formats.detect by the kernel, on the undecoded first lines of a source."""
    module = kernel_module()
    assert module is not None
    return formats.detect_bytes(head, module.classify)


def supports(interval: int, lateness: int) -> bool:
    return 0 < interval < LIMIT and 0 <= lateness < LIMIT


def reason(code: int, nfields: int) -> str:
    """The kernel's reason code for an invalid line, in the Python parsers' words."""
    if code == _FIELDS:
        return f"{nfields} CSV fields, expected 7"
    return _REASONS.get(code, "invalid line")
