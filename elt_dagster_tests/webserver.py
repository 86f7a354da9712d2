"""Dagster processes for tests: their environment, background processes, a webserver on a free localhost port."""

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


def cli_env(config_dir: Path, tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment of a Dagster command for a test: its configs, the test database, its own DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "ELT_CONFIG_DIR": str(config_dir),
        "ELT_DATABASE_URL": database_url,
        "ELT_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_HOME": str(home),
        "PYTHONWARNINGS": "ignore",
    }


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
def running_process(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen]:
    """A background process in its own session, its output in `log`; stopped with its children at the end."""
    with log.open("w") as out:
        process = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@contextlib.contextmanager
def running_webserver(
    env: dict[str, str], cwd: Path, log: Path, read_only: bool = False, code: tuple[str, ...] = ("-m", "elt_dagster")
) -> Iterator[str]:
    """The base URL of a webserver for `code` (`-m elt_dagster`, or `-w workspace.yaml`), serving until the end."""
    port = free_port()
    args = [WEBSERVER, *code, "-h", "127.0.0.1", "-p", str(port)] + (["--read-only"] if read_only else [])
    base = f"http://127.0.0.1:{port}"
    with running_process(args, env, cwd, log) as server:
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
