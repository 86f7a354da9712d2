"""File fingerprints for incremental runs: a file is read again only when its fingerprint changed.

A file's fingerprint is written in the same transaction as the rows read from it, so a crash never marks a
file as done whose rows did not land.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import xxhash

RACY_SECONDS = 2.0
"""A file modified this close to when it was recorded may have changed again within the same mtime tick."""


@dataclass(frozen=True)
class Fingerprint:
    """What a file looked like: stat facts, plus its content hash once it has been read."""

    path: str
    size: int
    mtime_ns: int
    content_hash: str = ""

    @classmethod
    def stat(cls, path: Path) -> Fingerprint:
        info = path.stat()
        return cls(str(path), info.st_size, info.st_mtime_ns)

    def same_stat(self, other: Fingerprint) -> bool:
        return (self.size, self.mtime_ns) == (other.size, other.mtime_ns)

    def with_content_hash(self) -> Fingerprint:
        return Fingerprint(self.path, self.size, self.mtime_ns, content_hash(Path(self.path)))

    def content_differs(self, recorded: Fingerprint) -> bool:
        """Whether the content is known to differ from `recorded`'s without reading it: never for a local file
        (its hash needs a read); an object's store says (its ETag)."""
        return False


def content_hash(path: Path) -> str:
    """XXH3-128 of the file's bytes (a few GB/s, so cheap next to parsing it)."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def stored_fingerprints(conn: psycopg.Connection, pipeline: str) -> dict[str, tuple[Fingerprint, float]]:
    """path -> (fingerprint, when it was recorded as epoch seconds) for a pipeline's loaded files."""
    rows = conn.execute(
        "SELECT path, size, mtime_ns, content_hash, extract(epoch FROM recorded_at) "
        "FROM elt.file_fingerprints WHERE pipeline = %s",
        (pipeline,),
    ).fetchall()
    return {row[0]: (Fingerprint(row[0], row[1], row[2], row[3]), float(row[4])) for row in rows}


def files_to_read(
    current: Iterable[Fingerprint], stored: dict[str, tuple[Fingerprint, float]], check_content: bool = True
) -> list[Fingerprint]:
    """The files that are new or changed since they were recorded.

    Stat only, except that with `check_content` a file written within the same mtime tick as its recording is
    hashed to tell (a sensor passes False: it must never read unchanged files).
    """
    changed = []
    for now in current:
        before = stored.get(now.path)
        if before is None:
            changed.append(now)
            continue
        old, recorded_at = before
        if (now.size, now.mtime_ns) != (old.size, old.mtime_ns) or now.content_differs(old):
            changed.append(now)
        elif (
            check_content
            and now.mtime_ns / 1e9 >= recorded_at - RACY_SECONDS
            and now.with_content_hash().content_hash != old.content_hash
        ):
            changed.append(now)  # written again within the same mtime tick as when it was recorded
    return changed


def record_files(conn: psycopg.Connection, pipeline: str, files: list[tuple[Fingerprint, int]], run_id: str) -> None:
    """Mark files as loaded, each with its row count, in one statement (call inside the load's transaction)."""
    if not files:
        return
    columns = list(zip(*((f.path, f.size, f.mtime_ns, f.content_hash, rows) for f, rows in files), strict=True))
    conn.execute(
        "INSERT INTO elt.file_fingerprints (pipeline, path, size, mtime_ns, content_hash, rows, run_id) "
        "SELECT %s, f.*, %s FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::text[], %s::bigint[]) AS f "
        "ON CONFLICT (pipeline, path) DO UPDATE SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns, "
        "content_hash = EXCLUDED.content_hash, rows = EXCLUDED.rows, run_id = EXCLUDED.run_id, recorded_at = now()",
        (pipeline, run_id, *(list(column) for column in columns)),
    )


def forget_files(conn: psycopg.Connection, pipeline: str, paths: list[str]) -> None:
    """Drop the fingerprints of files that are gone (a partition loaded again without them)."""
    if paths:
        conn.execute("DELETE FROM elt.file_fingerprints WHERE pipeline = %s AND path = ANY(%s)", (pipeline, paths))
