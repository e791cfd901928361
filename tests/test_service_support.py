"""What the service tests share: a real `hitwatch serve` process, logs, waiting.

Everything is real: the service runs as its own process (uvicorn on a
loopback port it picks itself and says on stderr), and tests talk to it with
httpx. Nothing sleeps for timing: `wait_for` polls a condition until a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
BASE_TS = 1_700_000_000


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "a condition") -> T:
    """Poll `check` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
        except (httpx.TransportError, OSError):
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def csv_line(ts: int, n: int = 0, status: int = 200) -> str:
    section = ("/api", "/static", "/login", "/admin")[n % 4]
    host = f"10.0.{n % 3}.{n % 7}"
    return f'"{host}","-","apache",{ts},"GET {section}/x HTTP/1.0",{status},{100 + n % 50}\n'


def traffic(seconds: int, start: int = BASE_TS, base: int = 2, spike: tuple[int, int] = (0, 0),
            spike_rate: int = 30) -> str:  # fmt: skip
    """`base` lines a second, `spike_rate` in the seconds [spike[0], spike[1]) from the start."""
    out = []
    n = 0
    for s in range(seconds):
        rate = spike_rate if spike[0] <= s < spike[1] else base
        for _ in range(rate):
            out.append(csv_line(start + s, n, 500 if n % 11 == 0 else 200))
            n += 1
    return "".join(out)


class Serve:
    """`hitwatch serve ARGS` as a process, on a free loopback port."""

    def __init__(self, args: Sequence[str], *, token: str | None = None) -> None:
        cmd = [sys.executable, "-m", "hitwatch", "serve", "--listen", "127.0.0.1:0", *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        line = wait_for(lambda: self._serving(), 30, "the service to listen")
        self.url = line.split("serving ", 1)[1].split()[0]
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=10.0)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _serving(self) -> str | None:
        if self.proc.poll() is not None:
            self._reader.join(5)
            raise AssertionError(f"serve exited {self.proc.returncode}: {self.lines}")
        return next((x for x in self.lines if "serving http" in x), None)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        if self.proc.poll() is not None:  # no waiting on a service that is gone
            self._reader.join(5)
            raise AssertionError(f"serve exited {self.proc.returncode}: {self.lines[-5:]}")
        return self.client.get(path, **kw)

    def status(self) -> dict[str, Any]:
        r = self.get("/api/v1/status")
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    def metrics(self) -> dict[str, float]:
        """Samples of /metrics by `name{labels}`."""
        out = {}
        for line in self.get("/metrics").text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def wait_final(self, second: int, timeout: float = 60.0) -> dict[str, Any]:
        """Until every second up to `second` of log time is final and committed."""

        def done() -> dict[str, Any] | None:
            s = self.status()
            final = s["final"]
            return s if final is not None and final >= second and s["caught_up"] else None

        return wait_for(done, timeout, f"log time {second} to be final")

    def events(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every event of a range query, following the cursor."""
        out: list[dict[str, Any]] = []
        params = dict(params)
        while True:
            r = self.get(path, params=params)
            assert r.status_code == 200, r.text
            out += r.json()
            cursor = r.headers.get("x-next-cursor")
            if cursor is None:
                return out
            params["cursor"] = cursor

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)


class Receiver:
    """A webhook receiver that answers `code` (changeable) and keeps what it got."""

    def __init__(self, code: int = 200) -> None:
        self.code = code
        self.got: list[tuple[int, dict[str, Any] | list[Any]]] = []  # (answer, payload)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    code = outer.code
                    outer.got.append((code, json.loads(body)))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[Any]:
        with self.lock:
            return [payload for code, payload in self.got if 200 <= code < 300]

    def answers(self) -> list[int]:
        with self.lock:
            return [code for code, _ in self.got]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main_jsonl(path: Path, *args: str) -> list[dict[str, Any]]:
    """The main command's jsonl events for `path` (the reference the service is held to)."""
    out = subprocess.run(
        [sys.executable, "-m", "hitwatch", "--output", "jsonl", *args, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_traffic_has_the_lines_asked_for() -> None:
    assert traffic(3, base=2).count("\n") == 6
    assert traffic(4, base=1, spike=(1, 3), spike_rate=5).count("\n") == 12
