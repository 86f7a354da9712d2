"""What a run did (`RunReport`), for logs, metadata and tests, and what its load phases return (`LoadResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elt_dagster.engine.load.session import LoadCounts
from elt_dagster.engine.row_counts import RowCounts
from elt_dagster.engine.sources.files.extract import FileReport


@dataclass
class RunReport(RowCounts):
    """Everything a run did, for logs, metadata and tests (made by `_report`, in one place)."""

    run_id: str
    column_types: dict[str, str] = field(default_factory=dict)
    staging_path: Path | None = None
    rejects_path: Path | None = None
    files: list[FileReport] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    unchanged_files: int = 0
    rows_valid: int = 0
    invalid: int = 0
    first_rejects: list[dict[str, Any]] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    """Rows removed (a replaced partition's rows no longer in its files) or keys deleted (flagged by a row, or absent
    from a snapshot)."""
    row_count: int = 0
    table_schema: dict[str, str] = field(default_factory=dict)
    added_columns: tuple[str, ...] = ()
    strategy: str = "none"
    strategy_reason: str = ""
    """Why the planner chose `strategy`, in one sentence."""
    seconds: float = 0.0
    api_sources: list[dict[str, Any]] = field(default_factory=list)
    """Per API source: its URL (no credentials), pages, records and why paging stopped."""
    table_missing: bool = False
    """The table, loaded by earlier runs, was gone: every source was read again."""
    partition: str | None = None
    """The partition this run loaded (a partitioned pipeline), which now holds exactly its files' rows."""
    partition_rows: int = 0
    """The rows the partition holds after the load (the partitions', for a run of several)."""
    unplaced_files: list[str] = field(default_factory=list)
    """Files of a partitioned pipeline that belong to no partition, each with why (no date in its path, ...)."""

    superseded: int = 0
    """Valid rows replaced by a later row of their key in the same load (merge mode): not written."""
    flagged: int = 0
    """Valid rows that deleted their key (`target.delete_column`): not written."""

    @property
    def duplicates(self) -> int:
        """Valid rows the table had already (identical to the stored row, or older than it): not written."""
        return self.rows_valid - self.inserted - self.updated - self.superseded - self.flagged


@dataclass
class LoadResult:
    """What phases 2 and 3 did: the load's counts, each file read, the staging files and the first rejects."""

    counts: LoadCounts
    table_schema: dict[str, str]
    files: list[FileReport] = field(default_factory=list)
    staging_path: Path | None = None
    rejects_path: Path | None = None
    first_rejects: list[dict[str, Any]] = field(default_factory=list)
