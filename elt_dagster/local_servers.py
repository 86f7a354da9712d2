"""Local storage servers for the tests and the bucket walkthrough (SeaweedFS in `local_s3.py`; Azurite and the GCS
emulator in elt_dagster_tests/): each a process group of its own on free ports of 127.0.0.1, its data and log in a
folder of its own, waited for until it answers, and stopped with every process it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

STOP_SECONDS = 3
LOG_TAIL_CHARS = 2000


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 (held together while chosen, so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_answers(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def store_answers(filesystem: Any) -> bool:
    """Whether a storage server answers a lookup through `filesystem` (a pyarrow FileSystem; an OSError while the
    server starts)."""
    filesystem.get_file_info("elt-readiness-probe")
    return True


class ServerProcess:
    """One server: `launch(command)` starts it in `folder` (its output in `folder/<name>.log`), `wait_until(ready)`
    returns once `ready()` is true (or raises with the end of its log), `stop()` ends its process group and removes
    `folder`."""

    name = "server"
    """How messages and the log file name it."""

    def __init__(self, folder: Path, start_seconds: float):
        self.folder = folder
        self.start_seconds = start_seconds
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / f"{self.name}.log"

    def launch(self, command: list[str]) -> None:
        """Start `command` in a new session (its own process group), writing to the log."""
        with self.log_path.open("wb") as log:  # the server writes to its own copy of the descriptor
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder
            )

    def wait_until(self, ready: Callable[[], bool]) -> None:
        """Until `ready()` is true; `ready` may raise OSError while the server starts (the reason kept for the
        message when it never answers)."""
        deadline, problem = time.monotonic() + self.start_seconds, "it never answered"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                self.fail(f"{self.name} exited with {self.process.returncode}")
            try:
                if ready():
                    return
            except OSError as exc:
                problem = str(exc)
            time.sleep(0.2)
        self.fail(f"{self.name} did not answer within {self.start_seconds:g} s ({problem})")

    def fail(self, reason: str) -> NoReturn:
        """Stop the server and raise `reason` with the end of its log."""
        tail = self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:] if self.log_path.exists() else ""
        self.stop()
        raise RuntimeError(f"{reason}; the end of its log:\n{tail}")

    def stop(self) -> None:
        """Stop the server and every process it started (its process group), and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:  # its data is thrown away: no need to wait for a clean shutdown
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_SECONDS)
        shutil.rmtree(self.folder, ignore_errors=True)
