"""The API fuzzer's servers: a paging API on FakeApi whose replies a fault can replace, and a raw TCP server for
faults below HTTP (a connection closed mid-body or before any byte, a reset, a garbage status line, a stall).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from elt_dagster_tests.http_api import Reply, Seen

PAGE_SIZE = 2
RECORDS = [
    {"id": i, "name": f"r{i}", "amount": f"{i * 1.5}", "updated": f"2024-01-0{i + 1}T00:00:00Z"} for i in range(6)
]
"""What the API holds: three pages of two records."""
RESET = "reset"
"""A script step: close the connection with a TCP reset."""
Step = bytes | float | str
"""A raw script step: bytes to send, seconds to wait, or RESET."""


def _number(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name, "")
    return int(text) if text.isdigit() and len(text) < 6 else default


def page(paginate: str, seen: Seen, url: str) -> Reply:
    """The good reply to `seen` for a source paging with `paginate` (records under `data`)."""
    params = seen.params
    if paginate == "none":
        return Reply({"data": RECORDS})
    if paginate == "page_number":
        start = (_number(params, "page", 1) - 1) * PAGE_SIZE
        return Reply({"data": RECORDS[start : start + PAGE_SIZE]})
    if paginate == "offset":
        start = _number(params, "offset", 0)
        return Reply({"data": RECORDS[start : start + _number(params, "limit", PAGE_SIZE)]})
    at = _number(params, "cursor" if paginate == "cursor" else "p", 0)
    body: dict[str, Any] = {"data": RECORDS[at * PAGE_SIZE : (at + 1) * PAGE_SIZE]}
    more = (at + 1) * PAGE_SIZE < len(RECORDS)
    if paginate == "cursor":
        body["next"] = str(at + 1) if more else None
    elif paginate == "next_url":
        body["next"] = f"{url}?p={at + 1}" if more else None
    elif more:
        return Reply(body, headers={"Link": f'<{url}?p={at + 1}>; rel="next"'})
    return Reply(body)


def faulty(
    good: Callable[[Seen], Reply], fault: Callable[[Seen], Reply], at: int, once: bool
) -> Callable[[Seen], Reply]:
    """A route answering well, but with `fault` for the `at`-th request (and every later one unless `once`)."""
    count = [0]

    def answer(seen: Seen) -> Reply:
        count[0] += 1
        hit = count[0] == at or (not once and count[0] > at)
        return fault(seen) if hit else good(seen)

    return answer


def echo(seen: Seen) -> str:
    """Everything a request carried, as a server that echoes it in its errors would show it."""
    return f"{seen.method} {seen.path} {seen.params} {seen.headers} {seen.body.decode(errors='replace')}"


class RawServer:
    """A TCP server on 127.0.0.1: each connection to a path plays the next of the path's scripts (the last one
    repeats), then closes. A script is a list of steps: bytes sent, pauses, a reset."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.scripts: dict[str, list[list[Step]]] = {}
        self.played: dict[str, int] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def route(self, path: str, *scripts: list[Step]) -> str:
        self.scripts[path] = list(scripts)
        return self.base + path

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._play, args=(conn,), daemon=True).start()

    def _play(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = b""
            try:
                while b"\r\n\r\n" not in request and len(request) < 1 << 16:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
            except OSError:
                return
            path = request.split(b" ", 2)[1].split(b"?")[0].decode(errors="replace") if b" " in request else ""
            scripts = self.scripts.get(path) or [[b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]]
            played = self.played.get(path, 0)
            self.played[path] = played + 1
            for step in scripts[min(played, len(scripts) - 1)]:
                if not self._step(conn, step):
                    return

    def _step(self, conn: socket.socket, step: Step) -> bool:
        try:
            if isinstance(step, float):
                return not self.stopping.wait(step)
            if step == RESET:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return False
            conn.sendall(step if isinstance(step, bytes) else step.encode())
        except OSError:
            return False
        return True


def raw_response(body: bytes, status: str = "200 OK", headers: str = "Content-Type: application/json\r\n") -> bytes:
    """A whole HTTP/1.1 response that closes its connection."""
    head = f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body
