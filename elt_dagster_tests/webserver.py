"""Start a Dagster webserver for a test: a subprocess on a free localhost port, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

WEBSERVER = str(Path(sys.executable).with_name("dagster-webserver"))
START_SECONDS = 90

INSTANT_LAUNCH = """
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dagster_home(folder: Path) -> Path:
    """A DAGSTER_HOME whose runs launch at once (no daemon needed to dequeue them)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(INSTANT_LAUNCH)
    return folder


@contextlib.contextmanager
def running_webserver(
    env: dict[str, str], cwd: Path, log: Path, read_only: bool = False, code: tuple[str, ...] = ("-m", "elt_dagster")
) -> Iterator[str]:
    """The base URL of a webserver for `code` (`-m elt_dagster`, or `-w workspace.yaml`), serving until the end."""
    port = free_port()
    args = [WEBSERVER, *code, "-h", "127.0.0.1", "-p", str(port)] + (["--read-only"] if read_only else [])
    with log.open("w") as out:
        server = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_SECONDS
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/server_info", timeout=2) as reply:
                        if reply.status == 200:
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the webserver did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            yield base
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
