"""`type: gcs`: objects of a Google Cloud Storage bucket, read through pyarrow's `GcsFileSystem`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, Literal

from elt_dagster.engine.sources.objects.models import ObjectSource, endpoint_parts

if TYPE_CHECKING:
    from pyarrow.fs import GcsFileSystem

RETRY_SECONDS = 15
"""How long a failing request is retried before the run stops on it (the GCS client's default is 15 minutes)."""
_GCS_ERROR = re.compile(r"google::cloud::Status\((?P<code>[A-Z_]+):\s*(?P<detail>.*?)(?: error_info=|\)\.|$)", re.S)
_REASONS = {
    "NOT_FOUND": "the bucket or object does not exist",
    "PERMISSION_DENIED": "access denied (the credentials may not read this bucket or prefix)",
    "UNAUTHENTICATED": "the credentials were refused (check GOOGLE_APPLICATION_CREDENTIALS)",
}


class GcsSource(ObjectSource):
    """Objects of a Google Cloud Storage bucket: those under a prefix whose key matches `pattern`, or one object.

    Read through pyarrow's `GcsFileSystem` (Google's C++ client inside pyarrow: no new dependency), which streams
    an object in ranges; its credentials are Google's default chain (GOOGLE_APPLICATION_CREDENTIALS, the gcloud
    login, the metadata server of a Google Cloud machine), or none for a public bucket (`anonymous: true`)."""

    SCHEME: ClassVar[str] = "gs"
    type: Literal["gcs"]
    url: str
    """`gs://bucket/prefix/` (the objects under it that match `pattern`) or `gs://bucket/key.csv` (one object)."""
    anonymous: bool = False
    """Send no credentials (a public bucket, an emulator)."""
    endpoint_url: str | None = None
    """The JSON API's address when it is not Google's (an emulator: `http://127.0.0.1:9023`)."""

    def filesystem(self) -> GcsFileSystem:
        """pyarrow's GCS filesystem: the default credential chain or none, and the source's endpoint."""
        from pyarrow.fs import GcsFileSystem

        options: dict[str, object] = {"anonymous": self.anonymous, "retry_time_limit": timedelta(seconds=RETRY_SECONDS)}
        if self.endpoint_url:
            scheme, authority = endpoint_parts(self.endpoint_url)
            options |= {"scheme": scheme, "endpoint_override": authority}
        return GcsFileSystem(**options)

    def error_reason(self, text: str) -> str | None:
        """A `google::cloud::Status(CODE: ...)` of pyarrow's GCS filesystem for a person."""
        found = _GCS_ERROR.search(text)
        if not found:
            return None
        code, detail = found["code"], found["detail"]
        if code == "UNAVAILABLE" or (code == "UNKNOWN" and "connect" in detail.lower()):
            return f"can't reach {self.endpoint_url or 'Google Cloud Storage'} ({code.lower()})"
        return _REASONS.get(code) or detail.removeprefix("Permanent error, with a last message of ")
