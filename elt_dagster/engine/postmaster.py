"""The embedded PostgreSQL's process as its data folder shows it: the postmaster's pid, whether it lives, stopping it.

Both `db` (which restarts the server to apply its settings) and `embedded` (`elt-dagster db stop|status`) use it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def postmaster_pid(folder: Path) -> int | None:
    """The pid in `folder`'s postmaster.pid when that process is alive, else None."""
    pid_file = folder / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if is_alive(pid) else None


def stop_postmaster(folder: Path, timeout_seconds: float = 60) -> bool:
    """Stop the server of `folder` (a fast shutdown: running transactions roll back); False when it wasn't running."""
    pid = postmaster_pid(folder)
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_seconds
    while is_alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the embedded PostgreSQL (pid {pid}) did not stop within {timeout_seconds:g} s")
        time.sleep(0.1)
    return True


def is_alive(pid: int) -> bool:
    """Whether process `pid` runs (someone else's counts; a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    try:  # a zombie (our own child that exited) counts as stopped
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
