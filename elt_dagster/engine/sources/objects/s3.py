"""`type: s3`: objects of an S3 bucket or of any S3-compatible store, read through pyarrow's `S3FileSystem`."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, model_validator

from elt_dagster.engine.sources.objects.models import ObjectSource, endpoint_parts
from elt_dagster.engine.sources.objects.s3_errors import AWS_ERROR, CONNECT_SECONDS, REQUEST_SECONDS, reason_for_code

if TYPE_CHECKING:
    from pyarrow.fs import S3FileSystem

    from elt_dagster.engine.sources.objects.stored import StoredObject


class S3Source(ObjectSource):
    """Objects of an S3 bucket, or of any S3-compatible store (MinIO, Ceph, SeaweedFS, R2, GCS's interoperability
    endpoint): the objects under a prefix whose key matches `pattern`, or one object.

    Read through pyarrow's `S3FileSystem`: pyarrow is already a dependency (so no new one), it streams an object in
    ranges rather than downloading it whole, it follows the standard AWS credential chain (environment, profile,
    instance role) when no keys are given, and the same `pyarrow.fs` interface serves Azure and GCS
    (`AzureFileSystem`, `GcsFileSystem`: `type: azure`, `type: gcs`).
    """

    SCHEME: ClassVar[str] = "s3"
    type: Literal["s3"]
    url: str
    """`s3://bucket/prefix/` (the objects under it that match `pattern`) or `s3://bucket/key.csv` (one object)."""
    endpoint_url: str | None = None
    """An S3-compatible store's address (`http://127.0.0.1:9000`, `https://<account>.r2.cloudflarestorage.com`)."""
    region: str | None = None
    access_key_id: str | None = Field(default=None, repr=False)
    secret_access_key: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _both_keys_or_none(self) -> S3Source:
        """Keys given together (else the AWS credential chain is used)."""
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "give both access_key_id and secret_access_key, or neither (then the standard AWS credential chain: "
                "AWS_ACCESS_KEY_ID, ~/.aws, an instance role)"
            )
        return self

    def secret_values(self) -> list[str]:
        """The secret key."""
        return [self.secret_access_key] if self.secret_access_key else []

    def filesystem(self) -> S3FileSystem:
        """pyarrow's S3 filesystem: the source's endpoint and keys, else AWS and the standard credential chain."""
        from pyarrow.fs import S3FileSystem  # the AWS SDK: loaded only for s3 sources

        options: dict[str, object] = {"connect_timeout": CONNECT_SECONDS, "request_timeout": REQUEST_SECONDS}
        if self.endpoint_url:
            scheme, authority = endpoint_parts(self.endpoint_url)
            options |= {"endpoint_override": authority, "scheme": scheme, "region": "us-east-1"}
        if self.region:
            options["region"] = self.region
        if self.access_key_id is not None:
            options |= {"access_key": self.access_key_id, "secret_key": self.secret_access_key}
        return S3FileSystem(**options)

    def list_with_etags(self) -> list[StoredObject] | None:
        """The objects through S3's own ListObjectsV2, signed here, which gives each one's ETag (pyarrow's listing
        has none); None with credentials only the AWS SDK can sign (a profile, an instance role)."""
        from elt_dagster.engine.sources.objects.s3_listing import signed_objects

        return signed_objects(self)

    def error_reason(self, text: str) -> str | None:
        """An `AWS Error <CODE>` of pyarrow's S3 filesystem for a person."""
        found = AWS_ERROR.search(text)
        if not found:
            return None
        code, detail = found["code"], found["detail"]
        if code == "NETWORK_CONNECTION":
            return f"can't reach {self.endpoint_url or 'AWS S3'} ({detail})"
        return reason_for_code(code, detail)
