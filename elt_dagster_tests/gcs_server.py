"""A Google Cloud Storage emulator for the tests: `gcp-storage-emulator` (a dev dependency from PyPI, which serves
the JSON API that pyarrow's `GcsFileSystem` speaks), on a free port, in memory, stopped with its process group. It
checks no credentials: the sources read it with `anonymous: true`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from elt_dagster_tests.azure_server import free_port

PROJECT = "elt-test"
START_SECONDS = 60
STOP_SECONDS = 3


@dataclass(frozen=True)
class GcsServer:
    """A running emulator: where it answers."""

    endpoint_url: str
    """`http://127.0.0.1:<port>`, as a source's `endpoint_url:` takes it."""

    def filesystem(self):  # pyarrow.fs.GcsFileSystem
        """A pyarrow filesystem on the emulator, to create buckets and objects."""
        from pyarrow.fs import GcsFileSystem

        return GcsFileSystem(
            anonymous=True,
            scheme="http",
            endpoint_override=self.endpoint_url.removeprefix("http://"),
            project_id=PROJECT,
            retry_time_limit=timedelta(seconds=5),
        )


def emulator_binary() -> str:
    """The `gcp-storage-emulator` script of the venv (or PATH); a clear failure when the dev extras are missing."""
    beside_python = Path(sys.executable).parent / "gcp-storage-emulator"
    found = str(beside_python) if beside_python.exists() else shutil.which("gcp-storage-emulator")
    if not found:
        raise RuntimeError("`gcp-storage-emulator` is missing: install the dev extras (pip install -e '.[dev]')")
    return found


class GcsEmulatorProcess:
    """The emulator on a free port; `start()` returns once a bucket can be looked up."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    def start(self) -> GcsServer:
        command = [emulator_binary(), "start", "--host", "127.0.0.1", "--port", str(self.port), "--in-memory"]
        with (self.folder / "emulator.log").open("wb") as log:  # the emulator writes to its own copy of the handle
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder
            )
        server = GcsServer(f"http://127.0.0.1:{self.port}")
        deadline, problem = time.monotonic() + START_SECONDS, "it never answered"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail(f"gcp-storage-emulator exited with {self.process.returncode}")
            try:
                server.filesystem().get_file_info("elt-readiness-probe")
                return server
            except OSError as exc:
                problem = str(exc)
            time.sleep(0.2)
        self._fail(f"the GCS emulator did not answer within {START_SECONDS} s ({problem})")

    def _fail(self, reason: str) -> NoReturn:
        tail = (self.folder / "emulator.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"{reason}; the end of its log:\n{tail}")

    def stop(self) -> None:
        """Stop the emulator (its process group) and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_SECONDS)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_gcs_server() -> tuple[GcsServer, GcsEmulatorProcess]:
    """An emulator in a new temporary folder; stop it with the returned process's `stop()`."""
    process = GcsEmulatorProcess(Path(tempfile.mkdtemp(prefix="elt-gcs-")))
    return process.start(), process
