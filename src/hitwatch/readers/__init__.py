"""Readers: one source's bytes into the engine, by the pure parsers or the native kernel.

`make_reader` is the one place where the engine is chosen. Both readers give
the same events (SPEC §6); the native one reads a format with the kernel only
when the formats registry says the kernel parses it (`FormatInfo.native`),
and with the Python parsers otherwise.
"""

from __future__ import annotations

from hitwatch.engine.core import Engine
from hitwatch.readers.base import Note, OnInvalid, Reader, feed_block
from hitwatch.readers.python import SourceReader
from hitwatch.sources import Source

ENGINES = ("auto", "native", "python")

__all__ = ["ENGINES", "Note", "OnInvalid", "Reader", "engine_problem", "feed_block", "make_reader"]


def native_usable(engine: Engine) -> bool:
    """The compiled kernel is built, takes this engine's options, and hands over
    the accepted records the rules need (its record log)."""
    from hitwatch import native

    module = native.kernel_module()
    return (
        module is not None
        and hasattr(module, "records_full")
        and native.supports(engine.interval, engine.lateness)
    )


def engine_problem(engine_name: str, format_name: str) -> str | None:
    """Why `--engine engine_name` cannot read `--format format_name`, or None."""
    if engine_name != "native":
        return None
    from hitwatch import native

    if not native.available():
        return f"--engine native: the compiled kernel is not built ({native.why_not()})"
    if format_name != "auto" and native.format_code(format_name) is None:
        # (a description it declines too: see native.description)
        return f"--engine native: the kernel does not parse format {format_name}"
    return None


def make_reader(
    source: Source,
    format_name: str,
    engine: Engine,
    note: Note,
    on_invalid: OnInvalid,
    *,
    engine_name: str = "auto",
) -> Reader:
    """The reader for one source: `python` is the pure reader; `native` the
    compiled kernel; `auto` the kernel when it is built and can take the
    engine's options, else the pure one."""
    if engine_name != "python" and native_usable(engine):
        from hitwatch import native
        from hitwatch.readers.native import NativeReader

        if engine.recent.decode is None:
            kernel = native.kernel_module()
            engine.recent.decode = kernel.records_full  # type: ignore[union-attr]
            engine.recent.tally = kernel.records_tally  # type: ignore[union-attr]
        return NativeReader(source, format_name, note, engine, on_invalid, records=True)
    return SourceReader(source, format_name, note, engine, on_invalid)
