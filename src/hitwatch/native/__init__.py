"""The native engine: a compiled kernel that reads blocks of bytes (issue 3).

`_kernel` (C, built by `pip install .` when a C compiler is present) replaces
decode + parse + ingest of the pure engine: for each block it parses every
line with the rules of `hitwatch.formats`, runs the time model of
`Engine.feed` record by record (late and invalid attribution included) and
hands back, per block, hits per second and per-interval counts keyed by
decoded text. `Engine.absorb` takes them and emits the events with the same
Python code as the pure engine, so the output is the same by construction:
Python work is per block, per interval and per distinct key, never per line.

Imported lazily (only when a run uses it) so `hitwatch --version` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

from hitwatch import formats
from hitwatch.pipeline import SourceReader

if TYPE_CHECKING:
    from hitwatch.native._kernel import Kernel

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
LIMIT = 1 << 60
"""Larger --interval or --lateness values go to the pure engine (the kernel is 64-bit)."""

_import_error: str | None = None


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
    """Why the kernel cannot be used, for the --verbose note."""
    kernel_module()
    return _import_error or "it is available"


def supports(interval: int, lateness: int) -> bool:
    return 0 < interval < LIMIT and 0 <= lateness < LIMIT


def reason(code: int, nfields: int) -> str:
    if code == _FIELDS:
        return f"{nfields} CSV fields, expected 7"
    return _REASONS.get(code, "invalid line")


def head_lines(data: bytes, count: int) -> bytes:
    """The first `count` lines of `data` (all of it when it has fewer)."""
    pos = -1
    for _ in range(count):
        pos = data.find(b"\n", pos + 1)
        if pos < 0:
            return data
    return data[: pos + 1]


@dataclass
class NativeReader(SourceReader):
    """A SourceReader whose parse + ingest step is the compiled kernel.

    Detection (and holding blocks back for it) is SourceReader's, on the
    first lines only; every block then goes through the kernel whole.
    """

    _kernels: dict[str, Kernel] = field(default_factory=dict, repr=False)

    def _feed(self, data: bytes) -> int:
        fmt = self.fmt
        if fmt is None:
            sample = formats.decode_lines(head_lines(data, formats.SCAN_LINES))
            fmt = self._format(sample.lines)
        kernel = self._kernel("csv" if fmt.name == "csv" else "clf")
        engine = self.engine
        state = engine.time_state()
        (
            started_n,
            start,
            final,
            max_ts,
            min_ts,
            pending,
            rows,
            late,
            invalid,
            headers,
            empty,
            lines,
            max_late,
            seconds,
            intervals,
            bad,
        ) = kernel.feed(data, self.lineno + 1, *state)
        self.lineno += lines
        engine.add_skipped(headers, empty)
        engine.absorb(
            (bool(started_n), start, final, max_ts, min_ts, pending),
            rows=rows,
            late=late,
            invalid=invalid,
            max_late=max_late,
            seconds=seconds,
            intervals=intervals,
        )
        if bad:
            name = self.source.name
            for lineno, code, nfields in bad:
                self.on_invalid(name, lineno, reason(code, nfields))
        return lines

    def _kernel(self, kind: str) -> Kernel:
        kernel = self._kernels.get(kind)
        if kernel is None:
            module = kernel_module()
            assert module is not None
            engine = self.engine
            fmt = module.CSV if kind == "csv" else module.CLF
            kernel = self._kernels[kind] = module.Kernel(fmt, engine.interval, engine.lateness)
        return kernel
