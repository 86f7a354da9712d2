"""The in-memory hash pieces of the fast load path: the hash set, hash words, first occurrences."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pyarrow as pa

from elt_dagster.engine.config import Target
from elt_dagster.engine.load.hashset import HashSet, first_occurrences, hash_words
from elt_dagster.engine.transform.validate import HASH_COLUMN


def test_hash_set_membership_including_shared_high_words() -> None:
    stored = np.array([[5, 1], [5, 3], [9, 9], [1, 7], [5, 2]], dtype=np.uint64)
    order = np.argsort(stored[:, 0], kind="stable")
    hashes = HashSet(stored[order, 0], stored[order, 1])
    probe = np.array([[5, 2], [5, 4], [1, 7], [9, 8], [0, 0], [10, 1], [5, 3]], dtype=np.uint64)
    assert hashes.contains(probe).tolist() == [True, False, True, False, False, False, True]
    assert HashSet(np.array([], np.uint64), np.array([], np.uint64)).contains(probe).tolist() == [False] * 7


def test_hash_words_reads_16_bytes_as_two_big_endian_words() -> None:
    raw = [bytes(16), bytes.fromhex("00000000000000010000000000000002"), b"\xff" * 8 + bytes(8)]
    words = hash_words(pa.array(raw, pa.binary(16)).slice(1))
    assert words.tolist() == [[1, 2], [2**64 - 1, 0]]


def test_first_occurrences_keeps_order_and_first_of_each() -> None:
    rows = pa.table({"v": ["a", "b", "c", "d"], HASH_COLUMN: ["h1", "h2", "h1", "h3"]})
    assert first_occurrences(rows).column("v").to_pylist() == ["a", "b", "d"]


def test_first_occurrences_of_16_byte_hashes_even_sharing_high_words() -> None:
    raw = [bytes(8) + b"a" * 8, bytes(8) + b"b" * 8, bytes(8) + b"a" * 8, b"\xff" * 16]
    rows = pa.table({"v": ["a", "b", "c", "d"], HASH_COLUMN: pa.array(raw, pa.binary(16))})
    assert first_occurrences(rows).column("v").to_pylist() == ["a", "b", "d"]
    distinct = pa.table({"v": ["a", "b"], HASH_COLUMN: pa.array(raw[:2], pa.binary(16))})
    assert first_occurrences(distinct) is distinct


def test_hash_set_fetch_reads_every_stored_hash(database_url: str, db_schema: str) -> None:
    stored = [bytes.fromhex("00000000000000050000000000000001"), b"\xff" * 16, bytes(8) + b"\x07" * 8]
    target = Target(table="hashes", db_schema=db_schema)
    with psycopg.connect(database_url) as conn:
        conn.execute(f'CREATE SCHEMA "{db_schema}"')
        conn.execute(f'CREATE TABLE "{db_schema}".hashes (_elt_row_hash uuid NOT NULL)')
        assert len(HashSet.fetch(conn, target)) == 0  # an empty table aggregates to NULL
        for raw in stored:
            conn.execute(f'INSERT INTO "{db_schema}".hashes VALUES (%s)', (uuid.UUID(bytes=raw),))
        hashes = HashSet.fetch(conn, target)
    probe = hash_words(pa.array([*stored, bytes(16)], pa.binary(16)))
    assert len(hashes) == 3
    assert hashes.contains(probe).tolist() == [True, True, True, False]
