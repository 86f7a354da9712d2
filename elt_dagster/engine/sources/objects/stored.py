"""An object as a store's listing gives it (key, size, last-modified, ETag) and its fingerprint: what runs, sensors
and listings pass around, with nothing of configs or downloads."""

from __future__ import annotations

from dataclasses import dataclass

from elt_dagster.engine.sources.objects.models import ObjectSource
from elt_dagster.engine.state.fingerprints import Fingerprint


@dataclass(frozen=True)
class ObjectFingerprint(Fingerprint):
    """An object's fingerprint, kept by its URL (`s3://bucket/key`): key, size, last-modified and, where the store's
    listing gives it, its ETag (as `content_hash`). Its content is never hashed (that would download it): a rewritten
    object has a new last-modified time, or, rewritten within the same second at the same size, a new ETag."""

    def with_content_hash(self) -> ObjectFingerprint:
        return self

    def content_differs(self, recorded: Fingerprint) -> bool:
        """Whether both ETags are known and differ."""
        return bool(self.content_hash and recorded.content_hash and self.content_hash != recorded.content_hash)


@dataclass(frozen=True)
class StoredObject:
    """One object of a source, as listed."""

    source: ObjectSource
    key: str
    size: int
    mtime_ns: int
    etag: str = ""
    """The store's ETag, when its listing gives one (S3's signed listing: `listing.py`); pyarrow's has none."""

    @property
    def url(self) -> str:
        return self.source.object_url(self.key)

    @property
    def fingerprint(self) -> ObjectFingerprint:
        return ObjectFingerprint(self.url, self.size, self.mtime_ns, self.etag)
