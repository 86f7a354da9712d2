"""`python3 dev.py dev` stops as a whole on SIGTERM and on Ctrl-C: webserver, daemon, code servers gone, port free."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from elt_dagster_tests.conftest import write
from elt_dagster_tests.webserver import START_SECONDS, free_port

ROOT = Path(__file__).resolve().parents[2]
STOP_SECONDS = 150
"""dev.py's own bound (90 s before it kills dagster dev, 10 s for leftovers), with room to spare."""


def session_processes(session: int) -> dict[int, str]:
    """The live (not zombie) processes of a session and their command lines, read from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, _ppid, _group, sid = stat.read_text().rsplit(")", 1)[1].split()[:4]
            if int(sid) == session and state != "Z":
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    return found


def port_is_free(port: int) -> bool:
    """Nothing listens on the port (SO_REUSEADDR: the closed connections' TIME_WAIT doesn't count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers(port: int) -> bool:
    """The webserver on the port answers its health query."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def wait_until_serving(dev: subprocess.Popen, port: int, log: Path) -> None:
    """Poll until the webserver answers and the daemon runs, failing if dev.py exits or nothing comes up in time."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and dev.poll() is None:
        if answers(port) and "dagster._daemon run" in " ".join(session_processes(dev.pid).values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"dagster dev did not come up:\n{log.read_text()[-3000:]}")


def dev_env(tmp_path: Path, database_url: str, db_schema: str) -> dict[str, str]:
    """dev.py's environment: a DAGSTER_HOME of the test's own on SQLite, one pipeline, the test database."""
    write(
        tmp_path / "configs" / "events.yaml",
        f"""
        sources:
          - type: local
            path: ../data
        target:
          table: events
          db_schema: {db_schema}
        schema:
          columns:
            id: integer
        """,
    )
    (tmp_path / "data").mkdir()
    return {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "ELT_INSTANCE_STORAGE": "sqlite",
        "ELT_CONFIG_DIR": str(tmp_path / "configs"),
        "ELT_DATABASE_URL": database_url,
        "ELT_STATE_DIR": str(tmp_path / "state"),
        "PYTHONWARNINGS": "ignore",
    }


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_dev_stops_everything_it_started(signum: int, tmp_path: Path, database_url: str, db_schema: str) -> None:
    port, log = free_port(), tmp_path / "dev.log"
    command = [sys.executable, str(ROOT / "dev.py"), "dev", "-h", "127.0.0.1", "-p", str(port)]
    env = dev_env(tmp_path, database_url, db_schema)
    with log.open("w") as out:
        dev = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_serving(dev, port, log)
        os.kill(dev.pid, signum)  # dev.py alone, as `kill` from another shell does (or Ctrl-C: the foreground group)
        assert dev.wait(timeout=STOP_SECONDS) == 0, log.read_text()[-3000:]
        assert session_processes(dev.pid) == {}, log.read_text()[-3000:]
        assert port_is_free(port)
    finally:
        for pid in session_processes(dev.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            dev.wait(timeout=10)
