"""A real Azure Blob Storage emulator for the tests: Azurite's `azurite-blob` (from the npm registry, installed into
`.elt/npm` by `python3 dev.py test`), on a free port, its data in a temporary folder, stopped with its process
group. Its account is the emulator's well-known development account."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from elt_dagster.local_servers import ServerProcess, free_ports, store_answers

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / ".elt" / "npm" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's published development key (not a secret: every Azurite accepts it)."""
START_SECONDS = 60


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


def azurite_binary() -> str:
    """`azurite-blob` of `.elt/npm` (or PATH); a clear failure when it was not installed."""
    found = str(AZURITE_BIN) if AZURITE_BIN.exists() else shutil.which("azurite-blob")
    if not found:
        raise RuntimeError(
            "the `azurite-blob` emulator is missing: `python3 dev.py test` installs it "
            "(or: npm install --prefix .elt/npm azurite@3)"
        )
    return found


class AzuriteProcess(ServerProcess):
    """`azurite-blob` on a free port in `folder`; `start()` returns once a container can be looked up."""

    name = "azurite"

    def __init__(self, folder: Path):
        super().__init__(folder, START_SECONDS)
        [self.port] = free_ports(1)

    def command(self) -> list[str]:
        options = ["--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(self.folder / "data")]
        return [azurite_binary(), *options, "--skipApiVersionCheck", "--loose", "--disableTelemetry"]

    def start(self) -> AzureServer:
        self.launch(self.command())
        server = AzureServer(f"http://127.0.0.1:{self.port}")
        self.wait_until(lambda: store_answers(server.filesystem()))
        return server


def start_azure_server() -> tuple[AzureServer, AzuriteProcess]:
    """An emulator in a new temporary folder; stop it with the returned process's `stop()`."""
    process = AzuriteProcess(Path(tempfile.mkdtemp(prefix="elt-azurite-")))
    return process.start(), process
