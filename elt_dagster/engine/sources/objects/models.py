"""What every object storage source (`type: s3`, `type: azure`, `type: gcs`) has: a URL naming a bucket (or an
Azure container) and a prefix or one object, a pattern on the keys below the prefix, the reading options of local
files, and its secrets, kept to be masked. Each store's own model (`s3.py`, `azure.py`, `gcs.py`) adds its
credentials, the pyarrow filesystem that reads it, and what its error messages mean.

Only pydantic and the standard library: loading a config never imports pyarrow's filesystems (`filesystem()` does).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from elt_dagster.engine.redaction import SECRETS_CONTEXT, mask_values, redact_text
from elt_dagster.engine.sources.encodings import known_encoding
from elt_dagster.engine.sources.sheet_keys import SheetKeys

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

    from elt_dagster.engine.sources.objects.stored import StoredObject


class ObjectSource(SheetKeys):
    """The objects under a prefix whose key matches `pattern`, or one object, of a bucket or container."""

    SCHEME: ClassVar[str] = ""
    """The URL scheme (`s3`, `az`, `gs`)."""
    BUCKET_WORD: ClassVar[str] = "bucket"
    """What the store calls the URL's first part (Azure: a container)."""

    url: str
    pattern: str = "*"
    """A glob on the key below the prefix: `*` the objects directly under it, `**/*` those below it at any depth."""
    endpoint_url: str | None = None
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str = "utf-8"
    records_path: str | None = None
    snapshot: bool = False
    """The objects under the prefix together are the table's full state: when one changed all are read again, and
    keys absent from them are deleted (under `target.max_deleted`)."""
    _env_secrets: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != cls.SCHEME or not parts.netloc or "@" in parts.netloc or parts.query or parts.fragment:
            example = f"{cls.SCHEME}://{cls.BUCKET_WORD}/prefix/ or {cls.SCHEME}://{cls.BUCKET_WORD}/key"
            article = "an" if cls.SCHEME[0] in "aefhilmnorsx" else "a"  # as the letter is read: an s3, a gs
            raise ValueError(f"{_without_userinfo(value)!r} is not {article} {example} URL")
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
    def _keep_env_secrets(self, info: ValidationInfo) -> ObjectSource:
        """The config's values from the environment, kept to be masked in every message."""
        context = info.context if isinstance(info.context, dict) else {}
        self._env_secrets = frozenset(context.get(SECRETS_CONTEXT, ()))
        return self

    @property
    def bucket(self) -> str:
        """The bucket (Azure: the container)."""
        return urlsplit(self.url).netloc

    @property
    def prefix(self) -> str:
        """The key (or key prefix) after the bucket, without a leading slash."""
        return urlsplit(self.url).path.lstrip("/")

    def describe(self, base_dir: object = None) -> str:
        """The source for a person: its URL and pattern."""
        return f"`{self.url}` ({self.pattern})"

    def object_url(self, key: str) -> str:
        """`<scheme>://bucket/key`: what an object's rows record as their source (no credentials)."""
        return f"{self.SCHEME}://{self.bucket}/{key}"

    def secret_values(self) -> list[str]:
        """The store's own secrets among the source's keys (a secret key, an account key)."""
        return []

    def secrets(self) -> list[str]:
        """The store's secrets and the config's values from the environment: never to appear in a message."""
        return [value for value in [*self.secret_values(), *sorted(self._env_secrets)] if len(value) >= 3]

    def redact(self, text: str) -> str:
        """`text` (a message) without this source's secrets."""
        return redact_text(mask_values(text, self.secrets()))

    def filesystem(self) -> FileSystem:
        """pyarrow's filesystem on the store, with the source's endpoint and credentials."""
        raise NotImplementedError

    def error_reason(self, text: str) -> str | None:
        """What a store error's text (one line) means for a person, or None when it is not one the store knows."""
        return None

    def named_files(self) -> tuple[str, ...]:
        """The URL and the pattern: what says which objects the source reads."""
        return (self.url, self.pattern)

    def list_with_etags(self) -> list[StoredObject] | None:
        """The source's objects with their ETags, when this store's listing gives them here (S3); None: pyarrow
        lists them, without ETags."""
        return None


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


def endpoint_parts(endpoint_url: str) -> tuple[str, str]:
    """An endpoint URL as pyarrow's filesystems take it: (scheme, `host:port`)."""
    parts = urlsplit(endpoint_url)
    return parts.scheme, parts.netloc


def _without_userinfo(url: str) -> str:
    """A URL as a message may show it: anything before an `@` in its address dropped (it could be a credential)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
