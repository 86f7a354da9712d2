"""A Google Cloud Storage emulator for the tests: `gcp-storage-emulator` (a dev dependency from PyPI, which serves
the JSON API that pyarrow's `GcsFileSystem` speaks), on a free port, in memory, stopped with its process group. It
checks no credentials: the sources read it with `anonymous: true`."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from elt_dagster.local_servers import ServerProcess, free_ports, store_answers

PROJECT = "elt-test"
START_SECONDS = 60


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


class GcsEmulatorProcess(ServerProcess):
    """The emulator on a free port; `start()` returns once a bucket can be looked up."""

    name = "gcp-storage-emulator"

    def __init__(self, folder: Path):
        super().__init__(folder, START_SECONDS)
        [self.port] = free_ports(1)

    def start(self) -> GcsServer:
        self.launch([emulator_binary(), "start", "--host", "127.0.0.1", "--port", str(self.port), "--in-memory"])
        server = GcsServer(f"http://127.0.0.1:{self.port}")
        self.wait_until(lambda: store_answers(server.filesystem()))
        return server


def start_gcs_server() -> tuple[GcsServer, GcsEmulatorProcess]:
    """An emulator in a new temporary folder; stop it with the returned process's `stop()`."""
    process = GcsEmulatorProcess(Path(tempfile.mkdtemp(prefix="elt-gcs-")))
    return process.start(), process
