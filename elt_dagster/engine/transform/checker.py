"""The one validate-and-count pass over a source's batches, shared by a run and a dry run."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from elt_dagster.engine.staging import StagingWriter
from elt_dagster.engine.transform.validate import CheckedBatch, check_batch, with_hex_hashes

if TYPE_CHECKING:  # the config is read, never imported: config/ imports transform/ for rule values
    from elt_dagster.engine.config import ColumnRules


@dataclass
class SourceTally:
    """What validation made of one source's rows: valid and rejected counts, and the first valid rows kept."""

    valid: int = 0
    invalid: int = 0
    first_rows: list[dict[str, Any]] = field(default_factory=list)


class BatchChecker:
    """Validates one source's conformed batches by the column types and `rules`; rejects go to the staging rejects
    file.

    `valid_rows` starts a new tally each time it is called, because a file read again exactly starts from
    scratch. `keep_rows` standardised rows are kept for a dry run's display.
    """

    def __init__(
        self,
        column_types: dict[str, str],
        key: list[str],
        staging: StagingWriter,
        keep_rows: int = 0,
        rules: dict[str, ColumnRules] | None = None,
    ):
        self.column_types, self.key, self.staging, self.keep_rows = column_types, key, staging, keep_rows
        self.rules = rules or {}
        self.tally = SourceTally()

    def valid_rows(self, batches: Iterable[tuple[pa.Table, int]]) -> Iterator[pa.Table]:
        """The valid rows of each batch (canonical text plus row hash), counting as it goes."""
        self.start()
        for table, _malformed in batches:
            yield self.account(self.check(table))

    def start(self) -> None:
        """A new tally: a source (or the same source read again, exactly) starts."""
        self.tally = SourceTally()

    def check(self, table: pa.Table) -> CheckedBatch:
        """Standardise and hash one batch: no state touched, so batches can be checked in threads at once."""
        return check_batch(table, self.column_types, self.key, self.rules)

    def account(self, checked: CheckedBatch) -> pa.Table:
        """Count a checked batch and keep its rejects (in the batches' order); returns its valid rows."""
        self.staging.write_rejects(checked.rejects)
        self.tally.invalid += len(checked.rejects)
        self.tally.valid += checked.rows.num_rows
        room = self.keep_rows - len(self.tally.first_rows)
        if room > 0:
            self.tally.first_rows += with_hex_hashes(checked.rows.slice(0, room)).to_pylist()
        return checked.rows

    def count(self, batches: Iterable[tuple[pa.Table, int]]) -> None:
        """Validate and count without loading (a dry run)."""
        for _rows in self.valid_rows(batches):
            pass
