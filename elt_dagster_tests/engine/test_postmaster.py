"""The embedded server's process as its data folder shows it, tried on real child processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from elt_dagster.engine.postmaster import is_alive, postmaster_pid, stop_postmaster

# SIGINT restored (a child of a shell that ignores it, a background job, would ignore it too, as a server never
# does), then "ready" once it is: the test stops it only then
SLEEPER = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); print('ready', flush=True); "
    "time.sleep(120)",
]


def write_pid_file(folder: Path, text: str) -> Path:
    (folder / "postmaster.pid").write_text(text)
    return folder


def test_no_pid_file_or_an_unreadable_one_means_no_server(tmp_path: Path) -> None:
    assert postmaster_pid(tmp_path) is None
    assert postmaster_pid(write_pid_file(tmp_path, "not a pid\n")) is None
    assert stop_postmaster(tmp_path) is False


def test_a_pid_file_naming_an_ended_process_means_no_server(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert postmaster_pid(write_pid_file(tmp_path, ended.stdout)) is None


def test_stopping_interrupts_the_process_and_waits_until_it_has_ended(tmp_path: Path) -> None:
    server = subprocess.Popen(SLEEPER, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        folder = write_pid_file(tmp_path, f"{server.pid}\n{tmp_path}\n")
        assert postmaster_pid(folder) == server.pid
        assert stop_postmaster(folder, timeout_seconds=60) is True
        assert not is_alive(server.pid)  # our own child, a zombie until reaped: stopped
        assert server.wait(timeout=60) != 0
    finally:
        server.kill()
        server.wait()
