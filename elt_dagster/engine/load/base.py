"""What every loader does: prepare a batch away from the database, load a file's batches, finish the load."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from elt_dagster.engine.load.copy import CopyData


@dataclass
class Prepared:
    """A batch ready to load: its rows (unique within the batch) and, when made in the producer, their COPY data."""

    rows: pa.Table
    data: CopyData | None = None


class Loader(Protocol):
    def prepare(self, rows: pa.Table, source: str) -> Prepared:
        """Work done in the producer thread, away from the database: dedup, filtering, encoding (rows of `source`)."""

    def load_file(self, source: str, batches: Iterable[Prepared]) -> int:
        """Load one file's batches (with `_elt_source` = `source`); returns the rows inserted."""

    def finish(self, inserted: int) -> tuple[int, int]:
        """Complete the load; returns (inserted, updated)."""
