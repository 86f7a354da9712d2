"""A real S3-compatible server for the tests: SeaweedFS (elt_dagster/local_s3.py) with the tests' two identities,
in a temporary folder, stopped with its whole process group."""

from __future__ import annotations

import tempfile
from pathlib import Path

from elt_dagster.local_s3 import Identity, S3Server, WeedProcess

__all__ = ["ACCESS_KEY", "READER_ACCESS_KEY", "READER_BUCKET", "READER_SECRET_KEY", "S3Server", "start_s3_server"]

ACCESS_KEY = "elt-test-access"
SECRET_KEY = "elt-test-secret-6f1c2b9a"
READER_ACCESS_KEY = "elt-test-reader"
READER_SECRET_KEY = "elt-test-reader-secret-0d4e"
READER_BUCKET = "elt-reader-only"
"""The reader identity may read and list this bucket only: any other is a denied prefix."""
IDENTITIES = [
    Identity("admin", ACCESS_KEY, SECRET_KEY),
    Identity("reader", READER_ACCESS_KEY, READER_SECRET_KEY, (f"Read:{READER_BUCKET}", f"List:{READER_BUCKET}")),
]


def start_s3_server() -> tuple[S3Server, WeedProcess]:
    """A server in a new temporary folder; stop it with the returned process's `stop()`."""
    process = WeedProcess(Path(tempfile.mkdtemp(prefix="elt-s3-")), IDENTITIES)
    return process.start(), process
