"""A bounded listing of a bucket prefix for the source sensor: at most `MAX_OBJECTS_PER_TICK` keys a tick, going on
after the last key the previous tick listed, so a prefix of 100,000 objects is swept over several ticks and no tick
lists it whole (S3), or no tick compares more than that many objects (Azure and GCS: `sorted_page`).

S3 lists keys in order and its ListObjectsV2 takes `start-after` (sent signed by `s3_listing.py`: pyarrow's
`FileSelector` has no such option); with credentials only the AWS SDK can sign (a profile, an instance role) the
sensor lists the prefix whole through pyarrow (`store.list_objects`). Azure and GCS have no start-after that pyarrow
passes on (Azure's List Blobs continues from an opaque marker only): their prefix is listed whole through pyarrow
each tick, and the tick keeps the `MAX_OBJECTS_PER_TICK` keys after the cursor in key order.

Objects are judged against their recorded fingerprints, never against a time cursor, so an object written after a
tick, whatever its last-modified time, is seen when the sweep next passes its key (dagster#22892).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from elt_dagster.engine.sources.files.readers import file_format
from elt_dagster.engine.sources.objects.models import ObjectSource
from elt_dagster.engine.sources.objects.s3 import S3Source
from elt_dagster.engine.sources.objects.s3_listing import ListingPage, list_page
from elt_dagster.engine.sources.objects.store import StoredObject, list_objects

if TYPE_CHECKING:
    from elt_dagster.engine.config import LoadedConfig

MAX_OBJECTS_PER_TICK = 10_000
"""Keys one tick of the source sensor lists at most, per source (keys the pattern rejects count too)."""


def sorted_page(source: ObjectSource, start_after: str, budget: int) -> ListingPage:
    """Up to `budget` of the source's objects after `start_after` in key order, out of its whole listing: the page
    of a store pyarrow lists without a place to start (Azure, GCS)."""
    after = sorted((item for item in list_objects(source) if item.key > start_after), key=lambda item: item.key)
    page = after[:budget]
    return ListingPage(page, len(page), page[-1].key if len(after) > budget else "")


def sensor_objects(loaded: LoadedConfig, after: dict[str, str]) -> tuple[list[StoredObject], dict[str, str]]:
    """The objects of a pipeline one sensor tick sees (of a known format): a page of each prefix after where the
    last tick stopped (`after`, by `listing_key`), the whole listing of a one-object URL or of unsignable
    credentials; and where each paged source goes on at the next tick."""
    objects: list[StoredObject] = []
    next_after: dict[str, str] = {}
    for source in loaded.config.sources:
        if not isinstance(source, ObjectSource):
            continue
        is_prefix = source.url.endswith("/") or not source.prefix
        start_after = after.get(listing_key(source), "")
        if not is_prefix:
            page = None
        elif isinstance(source, S3Source):
            page = list_page(source, start_after, MAX_OBJECTS_PER_TICK)
        else:
            page = sorted_page(source, start_after, MAX_OBJECTS_PER_TICK)
        if page is not None:
            next_after[listing_key(source)] = page.next_after
        found = list_objects(source) if page is None else page.objects
        objects += [item for item in found if file_format(Path(item.key))[0]]
    return objects, next_after


def listing_key(source: ObjectSource) -> str:
    """A source's name in the sensor's cursor: its URL and pattern."""
    return f"{source.url} {source.pattern}"
