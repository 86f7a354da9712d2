"""Partitions by files (`partitions.by: files`): which partition each file was put in, when the source sensor first
saw it. New files are put, oldest first, into new partitions of `files_per_partition` files each; a file keeps its
partition for good (changed, it loads that partition again; gone, the partition is loaded without it)."""

from __future__ import annotations

import psycopg

KEY_DIGITS = 6
"""Partition keys are numbers: 000001, 000002, ... (sorted as text, in the order they were made)."""


def assigned_files(conn: psycopg.Connection, pipeline: str) -> dict[str, str]:
    """path -> partition key of every file put in a partition."""
    rows = conn.execute("SELECT path, partition_key FROM elt.partition_files WHERE pipeline = %s", (pipeline,))
    return dict(rows.fetchall())


def files_of(conn: psycopg.Connection, pipeline: str, key: str) -> list[str]:
    """The paths put in partition `key`, in path order."""
    rows = conn.execute(
        "SELECT path FROM elt.partition_files WHERE pipeline = %s AND partition_key = %s ORDER BY path",
        (pipeline, key),
    )
    return [path for (path,) in rows.fetchall()]


def assign_new_files(conn: psycopg.Connection, pipeline: str, paths: list[str], per_partition: int) -> list[str]:
    """Put `paths` (new files, oldest first) into new partitions of `per_partition` files; returns the new keys.

    Under a lock of the pipeline's assignments, so two sensor ticks never make the same key twice."""
    if not paths:
        return []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('elt.partition_files:' || %s))", (pipeline,))
        known = set(assigned_files(conn, pipeline))
        paths = [path for path in paths if path not in known]
        last = conn.execute(
            "SELECT coalesce(max(partition_key), '0') FROM elt.partition_files WHERE pipeline = %s", (pipeline,)
        ).fetchone()[0]
        keys, rows = [], []
        for start in range(0, len(paths), per_partition):
            key = str(int(last) + 1 + len(keys)).zfill(KEY_DIGITS)
            keys.append(key)
            rows += [(path, key) for path in paths[start : start + per_partition]]
        if rows:
            conn.execute(
                "INSERT INTO elt.partition_files (pipeline, path, partition_key) "
                "SELECT %s, f.path, f.key FROM unnest(%s::text[], %s::text[]) AS f(path, key) "
                "ON CONFLICT (pipeline, path) DO NOTHING",
                (pipeline, [path for path, _ in rows], [key for _, key in rows]),
            )
    return keys


def partition_keys(conn: psycopg.Connection, pipeline: str) -> list[str]:
    """Every partition key made for the pipeline, in order."""
    rows = conn.execute(
        "SELECT DISTINCT partition_key FROM elt.partition_files WHERE pipeline = %s ORDER BY 1", (pipeline,)
    )
    return [key for (key,) in rows.fetchall()]
