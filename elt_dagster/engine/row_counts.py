"""The row counts a run report and a dry-run report share, derived from the per-file reports."""

from __future__ import annotations

from elt_dagster.engine.sources.files.extract import FileReport


class RowCounts:
    """Counts derived from the per-file reports (`files`) and the rows validation rejected (`invalid`)."""

    files: list[FileReport]
    invalid: int

    @property
    def rows_extracted(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def malformed(self) -> int:
        return sum(f.malformed for f in self.files)

    @property
    def rejected(self) -> int:
        return self.invalid + self.malformed
