"""The HTTP API of `hitwatch serve` (Starlette): metrics, history, status, a live stream.

Handlers never touch the engine: they read the `View` the ingestion thread
published last, or the store (in a worker thread: SQLite calls block). Every
error is a JSON object `{"error": "..."}` with a 4xx status, or a 500 without
a traceback; nothing a client sends can stop the service.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hitwatch import __version__
from hitwatch.render import iso_utc
from hitwatch.service import params
from hitwatch.service.hub import Batch, Hub
from hitwatch.service.ids import ALERT, REPORT
from hitwatch.service.metrics import Exposition, View
from hitwatch.service.params import BadRequest
from hitwatch.service.store import Page, Store

KEEPALIVE = 15.0
"""Seconds between SSE comments on a quiet stream (finds dead clients)."""

REPLAY_PAGE = 1000

CHUNK = 64 * 1024
"""Bytes given to a client's connection at a time: uvicorn waits for each to
drain past its high-water mark, so a slow stream holds about this much."""

PAGE_PIECE = 1024 * 1024
"""A query's answer goes out in pieces this large: each is a round trip
through the event loop and the client, which under load costs more than
a copy of it (64 KiB pieces: one-day query p99 125 ms, 1 MiB: 37 ms)."""

READERS = 4
"""Threads (and SQLite connections) that answer queries from the store."""


@dataclass
class Context:
    """What the handlers read."""

    store: Store
    view: Callable[[], View]
    hub: Hub
    metrics: Exposition
    token: Callable[[], str | None] = lambda: None
    healthy: Callable[[], bool] = lambda: True
    info: Mapping[str, Any] = field(default_factory=dict)  # static facts for /api/v1/status
    started: float = field(default_factory=time.time)
    keepalive: float = KEEPALIVE


Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def pieces(data: bytes, size: int = CHUNK) -> Iterator[bytes | memoryview]:
    """`data` in slices of `size` bytes, not copied: h11 copies each with its
    framing anyway (a batch goes to every stream: 100 of them took 500 MB
    of copies more in a catch-up). Nothing for empty data: a zero-length
    chunk is what ends a chunked HTTP answer."""
    if len(data) <= size:
        if data:
            yield data
        return
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield view[i : i + size]


async def each_piece(parts: list[bytes]) -> AsyncIterator[bytes | memoryview]:
    """A large answer in pieces: uvicorn writes each and waits for the client to
    take it, so the answer (MBs) is never copied whole into the transport's
    buffer, whose fresh pages cost more than the copy."""
    for part in parts:
        for piece in pieces(part, PAGE_PIECE):
            yield piece


def build_app(ctx: Context) -> Starlette:
    pool = ThreadPoolExecutor(READERS, thread_name_prefix="hitwatch-query")

    async def in_pool(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, partial(fn, *args))

    def guarded(handler: Handler) -> Handler:
        """The handler, behind the bearer token when there is one; 400 for BadRequest."""

        async def endpoint(request: Request) -> Response:
            token = ctx.token()
            if token is not None:
                given = request.headers.get("authorization", "")
                scheme, _, value = given.partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(
                    value.strip().encode(), token.encode()
                ):
                    return error(401, "unauthorized", {"WWW-Authenticate": "Bearer"})
            try:
                return await handler(request)
            except BadRequest as exc:
                return error(400, str(exc))

        return endpoint

    def query(request: Request) -> tuple[dict[str, str], int]:
        items = request.query_params.multi_items()
        return dict(items), len(items)

    async def metrics(request: Request) -> Response:
        values, n = query(request)
        params.check_known(values, set(), n)
        body, content_type = ctx.metrics.render(request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    def default_to() -> int:
        view = ctx.view()
        return (view.log_time + 1) if view.log_time is not None else int(time.time()) + 1

    async def ranged(request: Request, cls: str) -> Response:
        values, n = query(request)
        q = params.range_query(values, n, default_to=default_to(), alerts=cls == ALERT)

        page: Page = await in_pool(ctx.store.page, cls, q.t_from, q.t_to, q.limit, q.after, q.rule)
        next_cursor = page.next
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(sum(map(len, page.parts))),
        }
        if next_cursor is not None:
            cursor = params.cursor_text(next_cursor)
            headers["X-Next-Cursor"] = cursor
            nxt = request.url.include_query_params(
                cursor=cursor, **{"from": str(q.t_from), "to": str(q.t_to)}
            )
            headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
        return StreamingResponse(each_piece(page.parts), headers=headers)

    async def reports(request: Request) -> Response:
        return await ranged(request, REPORT)

    async def alerts(request: Request) -> Response:
        return await ranged(request, ALERT)

    async def status(request: Request) -> Response:
        values, n = query(request)
        params.check_known(values, set(), n)
        v = ctx.view()
        outbox = await in_pool(ctx.store.outbox_counts)
        now = time.time()
        body = {
            "version": __version__,
            "started": iso_utc(int(ctx.started)),
            "uptime_seconds": round(now - ctx.started, 3),
            **ctx.info,
            "sources": [
                {
                    "name": s.name,
                    "role": s.role,
                    "offset": s.offset,
                    "size": s.size,
                    "caught_up": s.caught_up,
                }
                for s in v.sources
            ],
            "caught_up": v.caught_up,
            "log_time": v.log_time,
            "log_time_iso": iso_utc(v.log_time) if v.log_time is not None else None,
            "final": v.final,
            "lag_seconds": round(now - v.log_time, 3) if v.log_time is not None else None,
            "idle": v.idle,
            "lines": dict(v.lines),
            "firing": [
                {"rule": rule, "group": group, "since_ts": since, "since": iso_utc(since)}
                for rule, group, since in v.firing
            ],
            "checkpoints": v.checkpoints,
            "committed_at": v.committed_at or None,
            "notifications": {
                f"{receiver}": {state: n for (r, state), n in outbox.items() if r == receiver}
                for receiver in sorted({r for r, _ in outbox})
            },
            "sse_clients": len(ctx.hub.clients),
        }
        return JSONResponse(body)

    async def healthz(request: Request) -> Response:
        if ctx.healthy():
            return JSONResponse({"status": "ok"})
        return error(503, "ingestion stopped")

    async def events(request: Request) -> Response:
        values, n = query(request)
        params.check_known(values, {"last_event_id"}, n)
        last_id = request.headers.get("last-event-id") or values.get("last_event_id")
        after: int | None = None
        if last_id:
            if len(last_id) > 200:
                raise BadRequest("Last-Event-ID: too long")
            after = await in_pool(ctx.store.seq_of, last_id)
            if after is None:
                raise BadRequest("Last-Event-ID: no such event in the store (expired?)")
        queue = ctx.hub.subscribe()
        if queue is None:
            return error(503, "too many event stream clients", {"Retry-After": "5"})
        start = ctx.hub.last_seq if after is None else after
        return StreamingResponse(
            stream(queue, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def stream(queue: asyncio.Queue[Batch], last: int) -> AsyncIterator[bytes | memoryview]:
        try:
            yield b"retry: 2000\n\n"
            while True:  # from the store, up to where the queue takes over
                count, last, data = await in_pool(ctx.store.frames_after, last, REPLAY_PAGE)
                for piece in pieces(data):
                    yield piece
                if count < REPLAY_PAGE:
                    break
            while True:
                try:
                    batch = await asyncio.wait_for(queue.get(), ctx.keepalive)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if batch is None:
                    return
                frames, joined = batch
                if frames[0][0] <= last:  # right after the replay: some were sent
                    joined = b"".join(frame for seq, frame in frames if seq > last)
                last = max(last, frames[-1][0])
                for piece in pieces(joined):
                    yield piece
        finally:
            ctx.hub.unsubscribe(queue)

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return error(exc.status_code, str(exc.detail), exc.headers)
        return error(500, "internal error")

    async def server_error(request: Request, exc: Exception) -> Response:
        return error(500, "internal error")

    routes = [
        Route("/metrics", guarded(metrics)),
        Route("/api/v1/reports", guarded(reports)),
        Route("/api/v1/alerts", guarded(alerts)),
        Route("/api/v1/status", guarded(status)),
        Route("/api/v1/events", guarded(events)),
        Route("/healthz", healthz),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: not_found, Exception: server_error},
    )
