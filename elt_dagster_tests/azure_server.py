"""A real Azure Blob Storage emulator for the tests: Azurite's `azurite-blob` (from the npm registry, installed into
`.elt/npm` by `python3 dev.py test`), on a free port, its data in a temporary folder, stopped with its process
group. Its account is the emulator's well-known development account."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / ".elt" / "npm" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's published development key (not a secret: every Azurite accepts it)."""
START_SECONDS = 60
STOP_SECONDS = 3


@dataclass(frozen=True)
class AzureServer:
    """A running emulator: where it answers and its account."""

    endpoint_url: str
    """`http://127.0.0.1:<port>`, as a source's `endpoint_url:` takes it."""
    account_name: str = ACCOUNT_NAME
    account_key: str = ACCOUNT_KEY

    def filesystem(self):  # pyarrow.fs.AzureFileSystem
        """A pyarrow filesystem on the emulator, to create containers and blobs."""
        from pyarrow.fs import AzureFileSystem

        authority = self.endpoint_url.removeprefix("http://")
        return AzureFileSystem(
            account_name=self.account_name,
            account_key=self.account_key,
            blob_storage_authority=authority,
            blob_storage_scheme="http",
            dfs_storage_authority=authority,
            dfs_storage_scheme="http",
        )


def free_port() -> int:
    """A port free on 127.0.0.1 (the emulator binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def azurite_binary() -> str:
    """`azurite-blob` of `.elt/npm` (or PATH); a clear failure when it was not installed."""
    found = str(AZURITE_BIN) if AZURITE_BIN.exists() else shutil.which("azurite-blob")
    if not found:
        raise RuntimeError(
            "the `azurite-blob` emulator is missing: `python3 dev.py test` installs it "
            "(or: npm install --prefix .elt/npm azurite@3)"
        )
    return found


class AzuriteProcess:
    """`azurite-blob` on a free port in `folder`; `start()` returns once a container can be looked up."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    def command(self) -> list[str]:
        return [
            azurite_binary(),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            "--location",
            str(self.folder / "data"),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ]

    def start(self) -> AzureServer:
        with (self.folder / "azurite.log").open("wb") as log:  # the emulator writes to its own copy of the handle
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder
            )
        server = AzureServer(f"http://127.0.0.1:{self.port}")
        deadline, problem = time.monotonic() + START_SECONDS, "it never answered"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail(f"azurite-blob exited with {self.process.returncode}")
            try:
                server.filesystem().get_file_info("elt-readiness-probe")
                return server
            except OSError as exc:
                problem = str(exc)
            time.sleep(0.2)
        self._fail(f"Azurite did not answer within {START_SECONDS} s ({problem})")

    def _fail(self, reason: str) -> NoReturn:
        tail = (self.folder / "azurite.log").read_text(errors="replace")[-2000:]
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


def start_azure_server() -> tuple[AzureServer, AzuriteProcess]:
    """An emulator in a new temporary folder; stop it with the returned process's `stop()`."""
    process = AzuriteProcess(Path(tempfile.mkdtemp(prefix="elt-azurite-")))
    return process.start(), process
