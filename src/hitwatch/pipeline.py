"""The imperative shell of a finite run: sources -> readers -> engine -> outputs.

Everything with a side effect (reading, the stderr notes, writing events)
happens here, in the readers' sources or in the outputs; the engine only
ever sees counts. `hitwatch.live` is the same for followed and paced runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from hitwatch.engine.core import Engine
from hitwatch.outputs import Output
from hitwatch.readers import Note, OnInvalid, make_reader
from hitwatch.readers.python import SourceReader
from hitwatch.sources import Source, SourceError


class Run:
    """Counts the shell keeps beside the engine."""

    def __init__(self) -> None:
        self.lines = 0
        self.errors: list[str] = []
        self.unreadable: list[str] = []  # sources of which not one line could be read
        self.interrupted = False


def run(
    sources: Iterable[Source],
    format_name: str,
    engine: Engine,
    output: Output,
    note: Note,
    on_invalid: OnInvalid,
    *,
    engine_name: str = "auto",
) -> Run:
    """Read every source to its end, then finish the engine and close the output.

    A source that fails part-way is reported and the run goes on with the
    next; `Run.errors` tells the caller to exit non-zero. A source of which
    not one line could be read (every line invalid) is noted and listed in
    `Run.unreadable`.
    """
    state = Run()
    try:
        for source in sources:
            reader = make_reader(
                source, format_name, engine, note, on_invalid, engine_name=engine_name
            )
            try:
                for lines in reader.read(source):
                    state.lines += lines
                    output.emit(engine.drain())
            except SourceError as exc:
                state.errors.append(str(exc))
                note(f"error: {exc}")
            finally:
                source.close()
            state.lines += reader.flush()
            output.emit(engine.drain())
            if isinstance(reader, SourceReader) and reader.unreadable:
                # Every line invalid: the format is not this source's.
                problem = f"{source.name}: not one line could be read as format {reader.fmt_name}"
                state.unreadable.append(problem)
                note(problem)
        engine.finish()
    except KeyboardInterrupt:
        # Show what was already final, and the totals, but finalise nothing more.
        state.interrupted = True
    output.emit(engine.drain())
    output.close(engine.summary(state.lines))
    return state
