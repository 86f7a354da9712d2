"""The row counts a run report and a dry-run report share, derived from the per-file reports."""

from __future__ import annotations

from elt_dagster.engine.sources.files.extract import FileReport


class RowCounts:
    """Counts derived from the per-file reports (`files`) and the rows validation rejected (`invalid`): a run's
    and a dry run's `read = valid + quarantined` (`rows_read = rows_valid + rejected`), the one definition every
    report uses."""

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
        """Records quarantined: those validation rejected and those that could not be parsed (malformed)."""
        return self.invalid + self.malformed

    @property
    def rows_read(self) -> int:
        """Every record read, malformed ones included: always `rows_valid + rejected`. `rows_extracted` leaves
        the malformed records out (they never became rows), so it is not what a person compares with those two."""
        return self.rows_extracted + self.malformed
