"""The native kernel: C that turns bytes into counts (see `_kernel.c`).

`_kernel` is built by `pip install .` when a C compiler is present. It parses
blocks of lines (`parse.h`, the rules of `hitwatch.formats` on bytes), runs
the per-line part of the time model (late lines, SPEC §2) and counts per
second and per interval (`kernel_core.h`); worker threads can read a regular
file in a map of it (`reader.h`). Everything after counting (reports, rules,
events, their encoding) is Python's: `hitwatch.readers.native` hands the
counts to `Engine.absorb`.

This module only finds the compiled module and says what it can do; it is
imported when a run may use the kernel.
"""

from __future__ import annotations

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
