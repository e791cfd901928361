"""The live terminal dashboard (`--follow` or `--speed` with `--output text` on a terminal).

A sink like the others (`emit`, `close`) that also takes the live `Status`
(`tick`) and redraws at most `refresh_per_second` times a second. Rendering is
pure (`Dashboard.view()` is a rich renderable that lays itself out for the
console's current size), so tests render it into a recording Console.

Everything that comes from a log or a file name is put on screen as a
`rich.text.Text` of `safe(...)` text: control characters are shown escaped and
markup-like text (`[bold red]`) is shown as typed, never interpreted.

Keys: `q` stops (as does Ctrl-C, through the signal handler of the CLI).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hitwatch import rules
from hitwatch.model import (
    Alert,
    Event,
    Quiet,
    Ranked,
    Report,
    RuleStatus,
    Status,
    Summary,
    empty_report,
)
from hitwatch.outputs.text import TextSink, human_bytes
from hitwatch.render import duration, iso_local, iso_utc, number, safe
from hitwatch.rules.text import seconds

BARS = "▁▂▃▄▅▆▇█"
MAX_HISTORY = 1000
"""Alerts kept for the history (and printed again at exit)."""


def sparkline(values: list[float], limit: float, width: int) -> Text:
    """One bar per value (the last `width`), scaled to the largest value or `limit`;
    bars above `limit` are red."""
    values = values[-width:] if width > 0 else []
    top = max([*values, limit, 1e-9])
    out = Text()
    for v in values:
        bar = BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] if v > 0 else " "
        out.append(bar if v > 0 else "·", style="red" if v > limit else "cyan")
    return out


def _name(text: str) -> Text:
    return Text(safe(text), no_wrap=True, overflow="ellipsis")


class Dashboard:
    """Sink + live screen. `start()` takes over the terminal; `close()` gives it back."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        interval: int = 10,
        local: bool = False,
        refresh_per_second: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        out: TextIO | None = None,
    ) -> None:
        self.console = console or Console()
        self.interval = interval
        self._when = iso_local if local else iso_utc
        self._local = local
        self._min_gap = 1.0 / refresh_per_second
        self._clock = clock
        self._out = out or sys.stdout
        self.status: Status | None = None
        self.last: Report | None = None
        self.rates: deque[float] = deque(maxlen=600)  # req/s of each reported interval
        self.alerts: deque[Alert] = deque(maxlen=MAX_HISTORY)
        self.alert_count = 0
        self.active: dict[str, Alert] = {}  # firing now, by label (rule{key=value})
        self.notes: deque[str] = deque(maxlen=3)
        self.quit = False
        self._live: Live | None = None
        self._last_draw = float("-inf")
        self._tty: Any = None  # saved termios attributes of standard input

    # ---------------------------------------------------------------- sink

    def emit(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Report):
                self.last = event
                self.rates.append(event.hits / (event.end_ts - event.start_ts))
            elif isinstance(event, Quiet):
                n = (event.end_ts - event.start_ts) // event.interval
                self.rates.extend([0.0] * min(n, self.rates.maxlen or 0))
                self.last = empty_report(event.end_ts - event.interval, event.end_ts)
            elif isinstance(event, Alert):
                self.alerts.append(event)
                self.alert_count += 1
                if event.state == "firing":
                    self.active[event.label] = event
                else:
                    self.active.pop(event.label, None)
        self._draw()

    def tick(self, status: Status) -> bool:
        self.status = status
        self._read_keys()
        self._draw()
        return not self.quit

    def note(self, text: str) -> None:
        self.notes.append(text)
        if self._live is None:
            print(f"hitwatch: {text}", file=sys.stderr, flush=True)

    def close(self, summary: Summary) -> None:
        self.stop()
        text = TextSink(self._out, local=self._local)
        shown = list(self.alerts)
        if self.alert_count > len(shown):
            self._out.write(f"({self.alert_count - len(shown)} earlier alert events not shown)\n")
        text.emit(list(shown))
        for line in self.notes:
            print(f"hitwatch: {line}", file=sys.stderr)
        text.close(summary)

    # ------------------------------------------------------------ terminal

    def start(self, keys: bool = True) -> None:
        self._live = Live(
            self.view(),
            console=self.console,
            screen=True,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        self._live.start(refresh=True)
        if keys:
            self._keys_on()

    def stop(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()
        self._keys_off()

    def _draw(self) -> None:
        if self._live is None:
            return
        now = self._clock()
        if now - self._last_draw < self._min_gap:
            return
        self._last_draw = now
        self._live.update(self.view(), refresh=True)

    def _keys_on(self) -> None:
        try:
            import termios
            import tty

            fd = sys.stdin.fileno()
            if not os.isatty(fd):
                return
            self._tty = termios.tcgetattr(fd)
            tty.setcbreak(fd)  # keys one at a time, no echo; Ctrl-C still signals
        except (ImportError, OSError, ValueError, AttributeError):
            self._tty = None

    def _keys_off(self) -> None:
        if self._tty is None:
            return
        import termios

        with contextlib.suppress(OSError, ValueError):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._tty)
        self._tty = None

    def _read_keys(self) -> None:
        if self._tty is None:
            return
        import select

        try:
            fd = sys.stdin.fileno()
            while select.select([fd], [], [], 0)[0]:
                data = os.read(fd, 64)
                if not data:
                    return
                if b"q" in data or b"Q" in data:
                    self.quit = True
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------- drawing

    def view(self) -> _View:
        return _View(self)

    def lines(self, width: int, height: int) -> Iterator[RenderableType]:
        """The screen, top to bottom, for a console of `width` x `height`."""
        s = self.status
        when = self._when

        title = Text("hitwatch", style="bold")
        if s is not None:
            title.append(f"  {s.mode}  ", style="dim")
            title.append_text(_name(", ".join(s.sources)))
        title.no_wrap = True
        title.overflow = "ellipsis"
        yield title

        head = Text(no_wrap=True, overflow="ellipsis")
        if s is None:
            head.append("waiting for input…", style="dim")
        else:
            head.append("log time ")
            head.append(when(s.log_time) if s.log_time is not None else "-", style="bold")
            if s.idle:
                head.append(" (idle clock)", style="yellow")
            head.append(f"  {s.lines_per_s:,.0f} lines/s  records {s.records:,}")
            head.append(f"  late {s.late:,}", style="yellow" if s.late else "")
            head.append(f"  invalid {s.invalid:,}", style="yellow" if s.invalid else "")
        yield head
        for note in list(self.notes)[-1:]:
            yield Text(safe(note), style="dim", no_wrap=True, overflow="ellipsis")

        rules = s.rules if s is not None else ()
        for i, rule in enumerate(rules[: max(1, height // 8)]):
            # One line per rule; the first carries the sparkline of report rates.
            yield self._rule_line(rule, len(rules) > 1, width if i == 0 else 0)
        if not rules:
            yield Text("")

        if self.active:
            banner = Text()
            shown = list(self.active.values())[: max(1, height // 6)]
            for alert in shown:
                if banner:
                    banner.append("\n")
                banner.append_text(self._banner(alert))
            if len(self.active) > len(shown):
                banner.append(f"\n… {len(self.active) - len(shown)} more firing", style="red")
            yield Panel(banner, border_style="bold red", padding=(0, 1))
        else:
            yield Panel(
                Text("OK  traffic below the threshold", style="green"),
                border_style="green",
                padding=(0, 1),
            )

        # What is left: interval block (header + table) ~ 8 lines; history fills the rest.
        room = max(0, height - 16 - min(1, len(self.notes)))
        if self.alerts and room > 0:
            yield Text(f"alerts ({self.alert_count})", style="bold", no_wrap=True)
            for a in list(self.alerts)[-min(room, 10 if height < 40 else 20) :]:
                yield self._history_line(a)

        r = self.last
        if r is None:
            yield Text("no interval reported yet", style="dim")
            return
        start = when(r.start_ts)[11:19]
        end = when(r.end_ts)[11:19]
        line = Text("last interval ", style="bold")
        line.append(
            f"{start} – {end}  {r.hits:,} hits, {r.hits / (r.end_ts - r.start_ts):.2f} req/s, "
            f"errors {r.errors:.1%}, {human_bytes(r.bytes)}"
        )
        if r.latency is not None:
            line.append(f", p95 {seconds(r.latency.p95)}")
        if r.late or r.invalid:
            line.append(f", late {r.late}, invalid {r.invalid}", style="yellow")
        line.no_wrap = True
        line.overflow = "ellipsis"
        yield line
        yield self._table(r, rows=max(1, min(10, height - 18)) if height >= 40 else 5)

    def _rule_line(self, rule: RuleStatus, named: bool, spark_width: int) -> Text:
        """`now 10.88 req/s over 2m, threshold 10` and, given room, the sparkline."""
        line = Text(no_wrap=True, overflow="ellipsis")
        if named:
            line.append_text(_name(rule.name))
            line.append(": ")
        line.append("now ")
        line.append(f"{rule.rate:.2f} req/s", style="bold red" if rule.firing else "bold")
        line.append(f" over {duration(rule.window)}, threshold {number(rule.threshold)}  ")
        if spark_width:
            points = max(1, rule.window // self.interval)
            room = max(0, spark_width - line.cell_len)
            line.append_text(sparkline(list(self.rates)[-points:], float(rule.threshold), room))
        return line

    def _banner(self, a: Alert) -> Text:
        """A firing alert: what fires, since when, its numbers and its top line."""
        title = "HIGH TRAFFIC" if a.label == "high_traffic" else f"ALERT {safe(a.label)}"
        banner = Text(title, style="bold white on red")
        banner.append(f"  since {self._when(a.ts)}: {_numbers(a)}", style="bold red")
        top = rules.top_line(a)
        if top is not None:
            banner.append("\n" + top, style="red")
        return banner

    def _history_line(self, a: Alert) -> Text:
        """One alert event, compact: the full text line does not fit 80 columns."""
        what = "" if a.label == "high_traffic" else f"{safe(a.label)}  "
        if a.state == "firing":
            text = Text(f"{self._when(a.ts)}  ▲ fired      {what}{_numbers(a)}", style="red")
        else:
            since = a.ts - a.since_ts if a.since_ts is not None else 0
            text = Text(
                f"{self._when(a.ts)}  ▼ recovered  {what}{_numbers(a)}, after {duration(since)}",
                style="green",
            )
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text

    def _table(self, r: Report, rows: int) -> Table:
        t = Table(box=None, padding=(0, 1), pad_edge=False, expand=True, header_style="bold")
        groups: list[tuple[str, Ranked, int | None]] = [
            ("sections", r.sections, 3),
            ("hosts", r.hosts, 3),
            ("status", r.status, None),
            ("methods", r.methods, 2),
        ]
        for title, _items, ratio in groups:
            t.add_column(title, ratio=ratio, no_wrap=True, overflow="ellipsis")
            t.add_column("", justify="right", no_wrap=True, style="cyan")
        depth = min(rows, max((len(items) for _t, items, _r in groups), default=0))
        for i in range(depth):
            cells: list[Text] = []
            for _title, items, _ratio in groups:
                if i < len(items):
                    cells += [_name(items[i][0]), Text(f"{items[i][1]:,}")]
                else:
                    cells += [Text(""), Text("")]
            t.add_row(*cells)
        return t


def _numbers(a: Alert) -> str:
    """`1206 hits, 10.05 req/s over 2m`, or the errors of an error-ratio alert."""
    if a.errors is not None:
        return f"{a.errors} errors of {a.hits} ({a.ratio:.1%}) over {duration(a.window)}"
    return f"{a.hits} hits, {a.hits / a.window:.2f} req/s over {duration(a.window)}"


class _View:
    """Lays the dashboard out for the console's size at each refresh (resizes included)."""

    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, options.max_width)
        height = max(1, options.height or console.height)
        yield Group(*self.dash.lines(width, height))
