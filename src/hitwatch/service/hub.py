"""The live event stream's fan-out: committed events to every SSE client.

Lives on the event loop. The ingestion thread hands each commit's new events
over with `loop.call_soon_threadsafe(hub.publish, frames)`; each client has a
queue of such batches. A client that falls `max_queue` batches behind is
dropped (its stream ends; it may come back with `Last-Event-ID` and read
what it missed from the store), so a slow client never holds memory or the
service back.
"""

from __future__ import annotations

import asyncio

Frame = tuple[int, bytes]
"""(sequence number in the store, the SSE text of one event)."""

Batch = tuple[list[Frame], bytes] | None
"""What a client's queue holds: one commit's frames and their text joined once
for every client; None ends its stream."""


def sse_frame(event_id: str, kind: str, body: str) -> bytes:
    """One SSE event: ids and kinds are printable ASCII, the JSON has no newline.
    `Store.frames_after` writes the same frames in SQL (a replay in one
    statement); tests/test_service_store.py holds the two equal."""
    return f"id: {event_id}\nevent: {kind}\ndata: {body}\n\n".encode()


class Hub:
    def __init__(self, max_clients: int, max_queue: int = 1000) -> None:
        self.max_clients = max_clients
        self.max_queue = max_queue
        self.clients: set[asyncio.Queue[Batch]] = set()
        self.last_seq = 0  # the newest event published
        self.closed = False
        self.dropped = 0

    def subscribe(self) -> asyncio.Queue[Batch] | None:
        """A queue for a new client, or None when there are `max_clients` already."""
        if self.closed or len(self.clients) >= self.max_clients:
            return None
        queue: asyncio.Queue[Batch] = asyncio.Queue()
        self.clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Batch]) -> None:
        self.clients.discard(queue)

    def publish(self, frames: list[Frame]) -> None:
        if not frames:
            return
        self.last_seq = max(self.last_seq, frames[-1][0])
        batch = (frames, b"".join(frame for _seq, frame in frames))
        for queue in list(self.clients):
            if queue.qsize() >= self.max_queue:
                self.clients.discard(queue)
                self.dropped += 1
                queue.put_nowait(None)
            else:
                queue.put_nowait(batch)

    def close(self) -> None:
        """End every stream (shutdown)."""
        self.closed = True
        for queue in self.clients:
            queue.put_nowait(None)
        self.clients.clear()
