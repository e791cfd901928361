"""`hitwatch serve`, put together: store, ingestion thread, notifiers, HTTP server, signals.

Threads: the main one runs the event loop (uvicorn, Starlette, the SSE hub);
one ingests (`hitwatch.service.ingest`); one per receiver delivers
notifications. They share only the store (SQLite, a connection each), the
View the ingestion thread publishes, and `call_soon_threadsafe` towards the loop.

SIGTERM and SIGINT: the ingestion thread finishes its step and commits, the
streams end, the server stops; exit 0, within a few seconds. SIGHUP: the token
file and the alert rules are read again; a bad one is reported, the old kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from hitwatch.config import RuleSpec
from hitwatch.render import safe
from hitwatch.service.app import Context, build_app
from hitwatch.service.hub import Hub, sse_frame
from hitwatch.service.ingest import Ingest, Published, Settings
from hitwatch.service.metrics import Exposition, ServiceCollector
from hitwatch.service.notify import Counts, Receiver, Sender
from hitwatch.service.store import StateError, Store

REQUEST_DEADLINE = 10.0
"""Seconds a connection may take to send a request's headers (slow clients)."""

MAX_CONNECTIONS = 1000
"""Connections and requests at once; more get 503."""

STOP_TIMEOUT = 4.0
"""Seconds the ingestion thread is given to commit at shutdown."""


@dataclass(frozen=True)
class ServeConfig:
    settings: Settings
    host: str = "127.0.0.1"
    port: int = 9514
    state: str | None = None
    token_file: str | None = None
    max_sse_clients: int = 256
    retry_initial: float = 0.5
    retry_max: float = 60.0
    resend: float = 60.0
    notify_timeout: float = 5.0
    reload_rules: Callable[[], tuple[RuleSpec, ...]] | None = None  # SIGHUP; raises ValueError


class Usage(Exception):
    """A problem found before serving: one line for the operator, exit 2."""


class GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request's headers:
    a client that trickles them (or sends nothing) is disconnected."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(REQUEST_DEADLINE, self._too_slow)

    def _too_slow(self) -> None:
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            with contextlib.suppress(Exception):
                self.transport.close()


class _Server(uvicorn.Server):
    """uvicorn's server with our signal handling (it re-raises SIGTERM at the end)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.read(4096).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise Usage(f"--token-file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not token or any(c.isspace() for c in token) or not token.isprintable():
        raise Usage(f"--token-file {path}: expected one token of printable characters")
    return token


def listen(host: str, port: int) -> socket.socket:
    """The listening socket. Its protocol is IPPROTO_TCP (not 0, as with
    socket.create_server), so that asyncio sets TCP_NODELAY on each connection:
    else a response written in two parts waits 40 ms for a delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise Usage(f"--listen {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(cfg: ServeConfig, note: Callable[[str], None]) -> int:
    """Run the service until a signal stops it; the exit status."""
    temporary = None
    directory = cfg.state
    if directory is None:
        directory = temporary = tempfile.mkdtemp(prefix="hitwatch-state-")
        note("no --state: history and positions are kept until exit only")
    try:
        return _serve(cfg, directory, note)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def _serve(cfg: ServeConfig, directory: str, note: Callable[[str], None]) -> int:
    token = [read_token(cfg.token_file) if cfg.token_file else None]
    try:
        store = Store(directory)
    except StateError as exc:
        raise Usage(str(exc)) from None
    try:
        sock = listen(cfg.host, cfg.port)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}"
        return _run(cfg, store, sock, url, token, note)
    finally:
        store.close()


def _run(
    cfg: ServeConfig,
    store: Store,
    sock: socket.socket,
    url: str,
    token: list[str | None],
    note: Callable[[str], None],
) -> int:
    settings = replace(cfg.settings, external_url=url)
    loop = asyncio.new_event_loop()
    hub = Hub(cfg.max_sse_clients)
    stop = threading.Event()
    senders: list[Sender] = []

    def publish(new: Published) -> None:
        frames = [(seq, sse_frame(ev.id, ev.kind, ev.body)) for seq, ev in new]
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            loop.call_soon_threadsafe(hub.publish, frames)
        if any(ev.cls == "alert" for _seq, ev in new):
            for sender in senders:
                sender.wake()

    ingest = Ingest(settings, store, note, publish)
    try:
        resumed = ingest.load()
    except StateError as exc:
        sock.close()
        raise Usage(str(exc)) from None
    counts = Counts()
    for receiver in settings.receivers:
        senders.append(_sender(cfg, store, receiver, stop, note, counts, ingest))

    collector = ServiceCollector(
        lambda: ingest.view,
        lambda: {"sse_clients": len(hub.clients), "notifications": counts.snapshot()},
    )
    failed: list[BaseException] = []
    info: dict[str, Any] = {
        "paths": list(settings.paths),
        "interval": settings.interval,
        "lateness": settings.lateness,
        "retention_seconds": settings.retention,
        "rules": [r.name for r in settings.rules],
        "receivers": [r.key for r in settings.receivers],
        "resumed": resumed,
    }
    ctx = Context(
        store=store,
        view=lambda: ingest.view,
        hub=hub,
        metrics=Exposition(collector),
        token=lambda: token[0],
        healthy=lambda: not failed and thread.is_alive(),
        info=info,
    )
    config = uvicorn.Config(
        build_app(ctx),
        http=GuardedH11,
        lifespan="off",
        log_config=None,
        log_level="error",
        access_log=False,
        timeout_graceful_shutdown=1,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
    )
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    server = _Server(config)

    def shutdown() -> None:
        stop.set()
        server.should_exit = True
        hub.close()

    def ingest_main() -> None:
        try:
            ingest.run(stop)
        except BaseException as exc:
            failed.append(exc)
            note(f"error: ingestion stopped: {safe(type(exc).__name__)}: {safe(str(exc))}")
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(shutdown)

    def reload() -> None:
        try:
            if cfg.token_file:
                token[0] = read_token(cfg.token_file)
            if cfg.reload_rules is not None:
                ingest.reload(cfg.reload_rules())
            note("SIGHUP: configuration reloaded")
        except (Usage, ValueError, OSError) as exc:
            note(f"SIGHUP: {safe(str(exc))}; keeping the configuration in force")

    thread = threading.Thread(target=ingest_main, name="hitwatch-ingest", daemon=True)
    # The ingestion thread's Python work must not hold the event loop off for
    # long: hand the GIL over every millisecond (the default is 5).
    sys.setswitchinterval(0.001)
    asyncio.set_event_loop(loop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown)
    loop.add_signal_handler(signal.SIGHUP, reload)
    thread.start()
    for sender in senders:
        sender.start()
    note(f"serving {url} (state {store.directory}{', resumed' if resumed else ''})")
    try:
        loop.run_until_complete(server.serve(sockets=[sock]))
    finally:
        stop.set()
        hub.close()
        thread.join(STOP_TIMEOUT)
        for sender in senders:
            sender.wake()
        for sender in senders:
            sender.join(0.5)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        loop.close()
        asyncio.set_event_loop(None)
    if thread.is_alive():
        note("error: ingestion did not stop in time; the last checkpoint stands")
        return 1
    return 1 if failed else 0


def _sender(
    cfg: ServeConfig,
    store: Store,
    receiver: Receiver,
    stop: threading.Event,
    note: Callable[[str], None],
    counts: Counts,
    ingest: Ingest,
) -> Sender:
    def firing() -> list[dict[str, Any]]:
        value = store.get("firing") or {}
        return [dict(v) for v in dict(value).values()]

    return Sender(
        store,
        receiver,
        stop=stop,
        note=note,
        counts=counts,
        firing=firing,
        retry_initial=cfg.retry_initial,
        retry_max=cfg.retry_max,
        resend=cfg.resend,
        timeout=cfg.notify_timeout,
    )
