"""A real HTTP server on 127.0.0.1 for API source tests: routes answer with `Reply`s, requests are recorded."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What a route answers: a status, a body (JSON-encoded unless bytes) and headers."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0
    """Seconds between the body's bytes (a server that sends slowly, resetting a per-read timeout each time)."""
    trickle_head: float = 0.0
    """Seconds between the bytes of the status line and headers (a server that is slow before the body)."""
    cut_at: int | None = None
    """Body bytes sent before the socket is shut (the Content-Length still counts the whole body)."""


Route = Callable[[Seen], Reply]


class FakeApi:
    """A threaded HTTP server on 127.0.0.1 that answers from `routes` and records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, client_address: None  # a client that gave up: not an error
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, handler: Route) -> str:
        """Answer requests to `path` with `handler`; returns the full URL."""
        self.routes[path] = handler
        return self.url(path)

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        seen = Seen(
            method=handler.command,
            path=parts.path,
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.seen.append(seen)
        route = self.routes.get(parts.path)
        reply = route(seen) if route else Reply({"error": "no such route"}, status=404)
        if reply.delay and self.stopping.wait(reply.delay):
            return
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        headers = {"Content-Type": "application/json", **reply.headers, "Content-Length": str(len(body))}
        head = f"HTTP/1.1 {reply.status} {handler.responses.get(reply.status, ('',))[0]}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        if not self._send(handler, head.encode("latin-1"), reply.trickle_head):
            return
        if reply.cut_at is not None:
            self._send(handler, body[: reply.cut_at], 0.0)
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(handler, body, reply.trickle)

    def _send(self, handler: BaseHTTPRequestHandler, data: bytes, trickle: float) -> bool:
        """Write `data`, a byte every `trickle` seconds if set; False when the client gave up or the server stops."""
        chunks = [data[i : i + 1] for i in range(len(data))] if trickle else [data]
        for chunk in chunks:
            if trickle and self.stopping.wait(trickle):
                return False
            try:
                handler.wfile.write(chunk)
                handler.wfile.flush()
            except OSError:
                return False
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                fake._answer(self)

            def do_POST(self) -> None:
                fake._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def serving() -> Iterator[FakeApi]:
    """A FakeApi serving in a background thread, stopped afterwards."""
    fake = FakeApi()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        fake.server.shutdown()
        fake.server.server_close()
        fake.thread.join(timeout=5)
