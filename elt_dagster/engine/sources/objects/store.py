"""Object storage in a run: list a source's objects (key, size, last-modified: never their bodies), and spool the
new or changed ones into the run's folder, a megabyte at a time, so the rest of the run reads them as local files.

A spooled file keeps its object's name (its suffix says the format; a `.gz` stays compressed, as the readers
decompress it) and takes its last-modified time, so the load's check that a file did not change while it was read
holds for objects too. Every failure of the store is one line naming the object's URL (`s3://`, `az://`, `gs://`),
never a credential. The store is any of pyarrow's filesystems: the source model builds it (`s3.py`, `azure.py`,
`gcs.py`).
"""

from __future__ import annotations

import errno
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from elt_dagster.engine.config import LoadedConfig, LocalSource
from elt_dagster.engine.sources.files.extract import SourceFile
from elt_dagster.engine.sources.files.readers import ExtractError, file_format
from elt_dagster.engine.sources.objects.models import ObjectSource, key_pattern
from elt_dagster.engine.sources.objects.stored import ObjectFingerprint, StoredObject
from elt_dagster.engine.staging import DISK_FULL_ERRNOS

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

CHUNK_BYTES = 1 << 20
"""An object is copied to disk this much at a time: memory holds one chunk per object being spooled."""
SPOOL_THREADS = 8
"""Objects fetched at once: many small objects cost one round trip each, which threads overlap."""


def filesystem(source: ObjectSource) -> FileSystem:
    """pyarrow's filesystem for the source (S3, Azure or GCS): its endpoint and credentials."""
    return source.filesystem()


def store_error(source: ObjectSource, url: str, exc: BaseException) -> ExtractError:
    """The store's failure as one line: the URL and what is wrong, the source's secrets masked."""
    text = " ".join(str(exc).split())
    reason = source.error_reason(text)
    if reason is None and (isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT):
        reason = "the object does not exist (deleted since it was listed?)"
    return ExtractError(source.redact(f"{url}: {reason or text or type(exc).__name__}"))


def list_objects(source: ObjectSource) -> list[StoredObject]:
    """The objects the source names, oldest first (then by key): the one object of a key URL, or those under the
    prefix whose key below it matches `pattern`."""
    from pyarrow.fs import FileSelector, FileType

    with_etags = source.list_with_etags()
    if with_etags is not None:
        return sorted(with_etags, key=lambda item: (item.mtime_ns, item.key))
    store = filesystem(source)
    base = f"{source.bucket}/{source.prefix}".rstrip("/")
    try:
        if source.prefix and not source.url.endswith("/"):
            info = store.get_file_info(base)
            if info.type == FileType.File:
                return [StoredObject(source, source.prefix, info.size, info.mtime_ns)]
        recursive = "/" in source.pattern or "**" in source.pattern
        infos = store.get_file_info(FileSelector(base, recursive=recursive, allow_not_found=True))
        if not infos and store.get_file_info(source.bucket).type == FileType.NotFound:
            raise ExtractError(f"{source.url}: the {source.BUCKET_WORD} does not exist")
    except OSError as exc:
        raise store_error(source, source.url, exc) from None
    matches = key_pattern(source.pattern).match
    start = len(base) + 1
    found = [
        StoredObject(source, info.path[len(source.bucket) + 1 :], info.size, info.mtime_ns)
        for info in infos
        if info.type == FileType.File and matches(info.path[start:])
    ]
    return sorted(found, key=lambda item: (item.mtime_ns, item.key))


def list_source_objects(loaded: LoadedConfig) -> tuple[list[StoredObject], list[str]]:
    """The objects of every object storage source of the pipeline, and the URLs of those skipped for an unknown
    format."""
    objects: list[StoredObject] = []
    skipped: list[StoredObject] = []
    for source in loaded.config.sources:
        if isinstance(source, ObjectSource):
            for item in list_objects(source):
                (objects if file_format(Path(item.key))[0] else skipped).append(item)
    objects.sort(key=lambda item: (item.mtime_ns, item.url))
    return objects, [item.url for item in skipped]


def spool_bytes(objects: list[StoredObject]) -> int:
    """The disk a run needs for `objects`: each object, and its rows staged (a `.gz` object's five-fold)."""
    return sum(item.size * (6 if item.key.lower().endswith(".gz") else 2) for item in objects)


def spool_objects(objects: list[StoredObject], folder: Path) -> list[tuple[SourceFile, ObjectFingerprint]]:
    """Copy `objects` into `folder/objects/`, several at a time; each as a SourceFile labelled by its URL, with the
    fingerprint to record once its rows are loaded."""
    if not objects:
        return []
    target = folder / "objects"
    target.mkdir(parents=True, exist_ok=True)
    paths = [target / f"{index:06d}_{Path(item.key).name}" for index, item in enumerate(objects)]
    stores = {id(source): filesystem(source) for source in {id(item.source): item.source for item in objects}.values()}
    with ThreadPoolExecutor(SPOOL_THREADS, thread_name_prefix="elt-spool") as pool:
        list(pool.map(lambda item, path: spool_object(stores[id(item.source)], item, path), objects, paths))
    return [(_source_file(item, path), item.fingerprint) for item, path in zip(objects, paths, strict=True)]


def spool_object(store: FileSystem, item: StoredObject, path: Path) -> None:
    """Stream one object to `path`, a chunk at a time; a read shorter or longer than its listed size is an error
    (the object was cut short, or rewritten since it was listed)."""
    written = 0
    try:
        with (
            store.open_input_stream(f"{item.source.bucket}/{item.key}", compression=None) as stream,
            path.open("wb") as out,
        ):
            while chunk := stream.read(CHUNK_BYTES):
                out.write(chunk)
                written += len(chunk)
    except OSError as exc:
        if exc.errno in DISK_FULL_ERRNOS:  # the run's disk, not the store: RunStaging says so, naming the folder
            raise
        raise store_error(item.source, item.url, exc) from None
    if written != item.size:
        raise ExtractError(
            f"{item.url}: read {written:,} of its {item.size:,} bytes (the object was cut short, or rewritten since "
            "it was listed: run again)"
        )
    os.utime(path, ns=(item.mtime_ns, item.mtime_ns))


def _source_file(item: StoredObject, path: Path) -> SourceFile:
    """The spooled object as a local file with its source's reading options, named by its URL."""
    source = item.source
    options = ("delimiter", "encoding", "records_path", "sheet", "header_row", "range")
    # checked on the object source already; as for a local folder, sheet keys on a CSV object fail when it is read
    local = LocalSource.model_construct(path=str(path), **{name: getattr(source, name) for name in options})
    return SourceFile(path, local, label=item.url)
