"""Row hashes on the client: the first occurrence of each hash in a batch, and a compact set of known hashes."""

from __future__ import annotations

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from elt_dagster.engine.config import Target
from elt_dagster.engine.load.keyed_tables import live_rows
from elt_dagster.engine.load.tables import table_ident
from elt_dagster.engine.names import HASH_COLUMN
from elt_dagster.engine.transform.validate import HASH_TYPE


def first_occurrences(rows: pa.Table) -> pa.Table:
    """The rows whose hash is the first of its kind in the batch, in their order."""
    hashes = rows.column(HASH_COLUMN)
    if hashes.type == HASH_TYPE and _all_distinct(hashes):
        return rows
    positions = pa.table({"h": hashes, "i": pa.array(np.arange(len(hashes), dtype=np.int64))})
    firsts = positions.group_by("h", use_threads=False).aggregate([("i", "min")]).column("i_min")
    if len(firsts) == len(hashes):
        return rows
    return rows.take(pc.take(firsts, pc.sort_indices(firsts)))


def _all_distinct(hashes: pa.ChunkedArray) -> bool:
    """Whether no hash repeats, from their high words sorted (distinct high words, distinct hashes): a third of
    a group-by's time, and the usual answer."""
    high = np.sort(hash_words(hashes)[:, 0])
    return bool((high[1:] != high[:-1]).all())


def hash_words(hashes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Row hashes (16 bytes each) as an (n, 2) array of big-endian uint64 words."""
    array = hashes.combine_chunks() if isinstance(hashes, pa.ChunkedArray) else hashes
    words = np.frombuffer(array.buffers()[1], dtype=">u8")[2 * array.offset : 2 * (array.offset + len(array))]
    return words.reshape(-1, 2).astype(np.uint64)


class HashSet:
    """A read-only set of 128-bit hashes as two uint64 columns sorted by the high word: 16 bytes a hash."""

    def __init__(self, high: np.ndarray, low: np.ndarray):
        self.high, self.low = high, low

    def __len__(self) -> int:
        return len(self.high)

    @classmethod
    def empty(cls) -> HashSet:
        """No hashes: the set of a table this run creates."""
        return cls(np.zeros(0, np.uint64), np.zeros(0, np.uint64))

    @classmethod
    def fetch(cls, conn: psycopg.Connection, target: Target) -> HashSet:
        """Every `_elt_row_hash` of the table's live rows (`keyed_tables.live_rows`) as one value (a sequential scan, sorted here).

        One aggregated bytea, not one COPY row per hash: a million COPY messages cost ~0.6 s of Python to collect,
        the aggregate ~0.2 s in all. Its size is bounded by the loader's choice (FETCH_HASHES_MAX_ROWS x 16 bytes).
        """
        live = live_rows(target)  # a closed version, a deleted key: a row like it is a change
        where = sql.SQL(" WHERE {}").format(live) if live else sql.SQL("")
        query = sql.SQL(f"SELECT string_agg(uuid_send({HASH_COLUMN}), ''::bytea) FROM {{}}{{}}").format(
            table_ident(target), where
        )
        with conn.cursor(binary=True) as cur:
            data = cur.execute(query).fetchone()[0] or b""
        words = np.frombuffer(data, dtype=">u8").reshape(-1, 2)
        high = words[:, 0].astype(np.uint64)
        order = np.argsort(high, kind="stable")
        return cls(high[order], words[:, 1].astype(np.uint64)[order])

    def contains(self, words: np.ndarray) -> np.ndarray:
        """A boolean mask: which of `words` (n x 2 uint64) are in the set."""
        found = np.zeros(len(words), dtype=bool)
        if not len(self.high):
            return found
        at = np.searchsorted(self.high, words[:, 0], side="left")
        todo = np.nonzero(at < len(self.high))[0]
        while len(todo):  # more than one round only where two stored hashes share their first 64 bits
            same_high = self.high[at[todo]] == words[todo, 0]
            todo = todo[same_high]
            hit = self.low[at[todo]] == words[todo, 1]
            found[todo[hit]] = True
            todo = todo[~hit]
            at[todo] += 1
            todo = todo[at[todo] < len(self.high)]
        return found
