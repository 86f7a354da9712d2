"""The YAML model of an object storage source (`type: s3`): a bucket prefix or one object, and its credentials.

Only pydantic and the standard library: loading a config never imports pyarrow's filesystems (`store.py` does).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from elt_dagster.engine.errors import StrictModel
from elt_dagster.engine.redaction import SECRETS_CONTEXT, mask_values, redact_text
from elt_dagster.engine.sources.encodings import known_encoding


class S3Source(StrictModel):
    """Objects of an S3 bucket, or of any S3-compatible store (MinIO, Ceph, SeaweedFS, R2, GCS's interoperability
    endpoint): the objects under a prefix whose key matches `pattern`, or one object.

    Read through pyarrow's `S3FileSystem`: pyarrow is already a dependency (so no new one), it streams an object in
    ranges rather than downloading it whole, it follows the standard AWS credential chain (environment, profile,
    instance role) when no keys are given, and the same `pyarrow.fs` interface serves GCS and Azure
    (`GcsFileSystem`, `AzureFileSystem`) for the `type: gcs` and `type: azure` sources to come.
    """

    type: Literal["s3"]
    url: str
    """`s3://bucket/prefix/` (the objects under it that match `pattern`) or `s3://bucket/key.csv` (one object)."""
    pattern: str = "*"
    """A glob on the key below the prefix: `*` the objects directly under it, `**/*` those below it at any depth."""
    endpoint_url: str | None = None
    """An S3-compatible store's address (`http://127.0.0.1:9000`, `https://<account>.r2.cloudflarestorage.com`)."""
    region: str | None = None
    access_key_id: str | None = Field(default=None, repr=False)
    secret_access_key: str | None = Field(default=None, repr=False)
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str = "utf-8"
    records_path: str | None = None
    snapshot: bool = False
    """The objects under the prefix together are the table's full state: when one changed all are read again, and
    keys absent from them are deleted (under `target.max_deleted`)."""
    _env_secrets: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @field_validator("url")
    @classmethod
    def _s3_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "s3" or not parts.netloc or "@" in parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"{_without_userinfo(value)!r} is not an s3://bucket/prefix/ or s3://bucket/key URL")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _http_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or "@" in parts.netloc:
            raise ValueError(f"{_without_userinfo(value)!r} is not an http:// or https:// address (host and port)")
        return value

    @field_validator("pattern")
    @classmethod
    def _relative_pattern(cls, value: str) -> str:
        if not value or value.startswith("/"):
            raise ValueError(f'{value!r} is not a pattern of keys below the prefix (e.g. "*.csv" or "**/*")')
        key_pattern(value)
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return known_encoding(value)

    @model_validator(mode="after")
    def _both_keys_or_none(self, info: ValidationInfo) -> S3Source:
        """Keys given together (else the AWS credential chain is used); the config's values from the environment
        kept to be masked."""
        context = info.context if isinstance(info.context, dict) else {}
        self._env_secrets = frozenset(context.get(SECRETS_CONTEXT, ()))
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "give both access_key_id and secret_access_key, or neither (then the standard AWS credential chain: "
                "AWS_ACCESS_KEY_ID, ~/.aws, an instance role)"
            )
        return self

    @property
    def bucket(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def prefix(self) -> str:
        """The key (or key prefix) after the bucket, without a leading slash."""
        return urlsplit(self.url).path.lstrip("/")

    def describe(self, base_dir: object = None) -> str:
        """The source for a person: its URL and pattern."""
        return f"`{self.url}` ({self.pattern})"

    def object_url(self, key: str) -> str:
        """`s3://bucket/key`: what an object's rows record as their source (no credentials)."""
        return f"s3://{self.bucket}/{key}"

    def secrets(self) -> list[str]:
        """The secret key and the config's values from the environment: never to appear in a message."""
        values = [self.secret_access_key] if self.secret_access_key else []
        return [value for value in [*values, *sorted(self._env_secrets)] if len(value) >= 3]

    def redact(self, text: str) -> str:
        """`text` (a message) without this source's secrets."""
        return redact_text(mask_values(text, self.secrets()))


def key_pattern(pattern: str) -> re.Pattern[str]:
    """A glob on keys as a regular expression: `*` and `?` stop at `/`, `**/` spans any number of folders,
    `[abc]` is a class."""
    parts, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] in "*?":
            parts.append("[^/]*" if pattern[index] == "*" else "[^/]")
            index += 1
        elif pattern[index] == "[" and (end := pattern.find("]", index + 2)) > 0:
            body = pattern[index + 1 : end]
            parts.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            index = end + 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _without_userinfo(url: str) -> str:
    """A URL as a message may show it: anything before an `@` in its address dropped (it could be a credential)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
