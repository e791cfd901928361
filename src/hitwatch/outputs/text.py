"""`--output text`: compact blocks for people, alert lines exactly as SPEC §4 has them."""

from __future__ import annotations

from typing import TextIO

from hitwatch import rules
from hitwatch.model import Alert, Event, Quiet, Ranked, Report, Summary
from hitwatch.render import duration, iso_local, iso_utc, safe
from hitwatch.rules.text import seconds


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _ranked(items: Ranked) -> str:
    # One `safe` for the joined line: it escapes character by character and
    # the separators are printable ASCII, so this is the names escaped each.
    return safe(", ".join([f"{name} {hits}" for name, hits in items])) or "-"


class TextSink:
    """Writes one block per report; a run of empty intervals becomes one line."""

    def __init__(self, out: TextIO, *, local: bool = False, flush: bool = False) -> None:
        self._out = out
        self._when = iso_local if local else iso_utc
        self._flush = flush
        self._quiet: tuple[int, int] | None = None  # [start, end) of empty intervals

    def emit(self, events: list[Event]) -> None:
        # A batch is written at once: a write call per report was a tenth of
        # the main thread's time on a replay, time the kernel's workers want.
        out: list[str] = []
        for event in events:
            if isinstance(event, Quiet) or (isinstance(event, Report) and event.is_empty):
                self._extend_quiet(event.start_ts, event.end_ts)
                continue
            self._end_quiet(out)
            if isinstance(event, Report):
                out.append(self.report(event))
            elif isinstance(event, Alert):
                out.append(rules.text_line(event, self._when))
                top = rules.top_line(event)
                if top is not None:
                    out.append(top)
        self._write(out)
        if self._flush:
            self._out.flush()

    def flush_quiet(self) -> None:
        """Write the pending "no traffic" line now (live mode, when caught up).

        Finite runs never call this, so their runs of empty intervals stay one line.
        """
        if self._quiet is not None:
            out: list[str] = []
            self._end_quiet(out)
            self._write(out)
            self._out.flush()

    def close(self, summary: Summary) -> None:
        out: list[str] = []
        self._end_quiet(out)
        out.append(self.summary(summary))
        self._write(out)
        self._out.flush()

    def report(self, r: Report) -> str:
        start = self._when(r.start_ts)
        end = self._when(r.end_ts)
        day, _, time_of_day = end.partition("T")
        if start.startswith(day + "T"):
            end = time_of_day
        head = (
            f"{start} – {end}  {r.hits} hits, {r.hits / (r.end_ts - r.start_ts):.2f} req/s, "
            f"{human_bytes(r.bytes)}, errors {r.errors:.1%}"
        )
        if r.latency is not None:
            lat = r.latency
            head += f", p50 {seconds(lat.p50)} p95 {seconds(lat.p95)} max {seconds(lat.max)}"
        if r.late or r.invalid:
            head += f"  (late {r.late}, invalid {r.invalid})"
        lines = [head]
        if r.hits:
            status = ", ".join([f"{cls} {n}" for cls, n in r.status])
            lines.append(f"  status {status} · methods {_ranked(r.methods)}")
            lines.append(f"  sections {_ranked(r.sections)}")
            lines.append(f"  hosts    {_ranked(r.hosts)}")
            if r.vhosts:
                lines.append(f"  vhosts   {_ranked(r.vhosts)}")
        return "\n".join(lines)

    def summary(self, s: Summary) -> str:
        lines = [
            f"Summary: {s.lines} lines = {s.records} records + {s.late} late + "
            f"{s.invalid} invalid + {s.headers} headers + {s.empty} empty"
        ]
        if s.first_ts is not None and s.last_ts is not None:
            lines.append(
                f"  log time {self._when(s.first_ts)} to {self._when(s.last_ts)} "
                f"({duration(s.last_ts - s.first_ts)})"
            )
        else:
            lines.append("  no records")
        if s.late:
            lines.append(
                f"  late lines: the latest arrived {duration(s.max_late)} behind the newest; "
                f"--lateness {s.max_late} would have kept them (now {s.lateness})"
            )
        firing = ", ".join(s.firing) or "none"
        lines.append(f"  alerts raised {s.alerts}, still firing: {firing}")
        return "\n".join(lines)

    def _extend_quiet(self, start: int, end: int) -> None:
        if self._quiet is None:
            self._quiet = (start, end)
        else:
            self._quiet = (self._quiet[0], end)

    def _end_quiet(self, out: list[str]) -> None:
        """Ends a pending run of empty intervals with its line in `out`."""
        if self._quiet is not None:
            start, end = self._quiet
            self._quiet = None
            out.append(f"no traffic from {self._when(start)} to {self._when(end)}")

    def _write(self, lines: list[str]) -> None:
        if lines:
            lines.append("")
            self._out.write("\n".join(lines))
