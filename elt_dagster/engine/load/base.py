"""What every loader does: prepare a batch away from the database, load a file's batches, finish the load."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from elt_dagster.engine.load.copy import CopyData


@dataclass
class Prepared:
    """A batch ready to load: its rows (unique within the batch) and, when made in the producer, their COPY data
    and the columns it holds (when they vary from batch to batch)."""

    rows: pa.Table
    data: CopyData | None = None
    names: list[str] | None = None


class Loader(Protocol):
    def prepare(self, rows: pa.Table, source: str | None) -> Prepared:
        """Work done in the producer thread, away from the database: dedup, filtering, encoding.

        `source`: the file the rows come from; None when they come from several (a group of small files), each
        row's in its `_elt_source` column.
        """

    def load_file(self, source: str | None, batches: Iterable[Prepared]) -> int:
        """Load one file's batches, or a group of small files' (`source` None); returns the rows inserted."""

    def finish(self, inserted: int) -> tuple[int, int]:
        """Complete the load; returns (inserted, updated)."""
