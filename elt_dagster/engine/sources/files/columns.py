"""Column names: a source file's column names mapped onto the pipeline's table columns, by PostgreSQL's rules.

Names are trimmed and matched to the declared schema columns case-insensitively; columns that the schema does
not declare keep their trimmed, lower-cased name (strict mode drops them). A name PostgreSQL can't take is one
clear error naming the file, never a database error halfway through the load:
- an empty name becomes `column_<position>` (1-based), as a spreadsheet's unnamed column;
- a name over 63 bytes is cut to 63 bytes, as PostgreSQL would; two names equal after the cut are an error;
- system column names (`ctid`, `xmin`, ...) and `_elt_` names other than this tool's own are errors;
- this tool's own columns (`_elt_row_hash`, `_elt_source`, ...) are skipped: a file exported from a loaded table
  loads back as the same rows;
- a table can hold 1,600 columns, four of them this tool's own.
"""

from __future__ import annotations

from elt_dagster.engine.config.schema import MAX_DATA_COLUMNS, MAX_IDENTIFIER_BYTES, SYSTEM_COLUMNS
from elt_dagster.engine.names import OWN_COLUMNS, RESERVED_PREFIX
from elt_dagster.engine.sources.files.readers import ExtractError


def postgres_name(name: str) -> str:
    """`name` cut to PostgreSQL's 63 bytes (on a character boundary), as the server would cut it."""
    encoded = name.encode()
    if len(encoded) <= MAX_IDENTIFIER_BYTES:
        return name
    return encoded[:MAX_IDENTIFIER_BYTES].decode(errors="ignore")


class ColumnMapper:
    """Maps source files' column names onto the pipeline's columns."""

    def __init__(self, declared: list[str], strict: bool):
        self.strict = strict
        self.columns: list[str] = list(declared)
        self._by_key = {name.lower(): name for name in declared}
        self._spelled: dict[str, str] = {}  # a discovered column's key -> the first source name that made it

    def target_name(self, source_name: str, position: int, source: str) -> str | None:
        """The table column for the file column `source_name` at `position` (0-based); None to skip it."""
        key = source_name.strip().lstrip("\ufeff").strip().lower() or f"column_{position + 1}"
        if key in self._by_key:
            return self._by_key[key]
        if self.strict or key in OWN_COLUMNS:
            return None
        column = postgres_name(key)
        self._check_new(column, source_name, source)
        self._by_key[key] = column
        self._spelled[column] = source_name
        self.columns.append(column)
        return column

    def _check_new(self, column: str, source_name: str, source: str) -> None:
        if column in SYSTEM_COLUMNS:
            raise ExtractError(
                f"{source}: column {source_name!r} has the name of a PostgreSQL system column: rename it"
            )
        if column.startswith(RESERVED_PREFIX):
            raise ExtractError(
                f"{source}: column {source_name!r}: names starting with {RESERVED_PREFIX!r} are reserved"
            )
        if column in self._spelled or column in self.columns:
            other = self._spelled.get(column, column)
            raise ExtractError(
                f"{source}: columns {other!r} and {source_name!r} are the same column {column!r} for PostgreSQL "
                f"(names match case-insensitively and are cut to {MAX_IDENTIFIER_BYTES} bytes)"
            )
        if len(self.columns) >= MAX_DATA_COLUMNS:
            raise ExtractError(
                f"{source}: more than {MAX_DATA_COLUMNS} columns; a PostgreSQL table holds 1,600 "
                f"({len(OWN_COLUMNS)} are elt-dagster's own): declare the ones to keep with schema.strict_mode"
            )

    def observe(self, names: list[str], source: str) -> None:
        """Take note of a file's column names (new ones become columns unless strict)."""
        for position, name in enumerate(names):
            self.target_name(name, position, source)
