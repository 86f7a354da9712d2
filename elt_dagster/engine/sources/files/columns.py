"""Column names: a source file's column names mapped onto the pipeline's table columns, by PostgreSQL's rules.

A name is trimmed; a declared column's `from` takes it first (matched case-insensitively); else it is lower-cased
(or normalised by `schema.normalize_names`, see `names.py`) and matched to the declared schema columns
case-insensitively; columns that the schema does not declare keep that name (strict mode drops them). Two names of
one file that land in one column, and a key column a file's header would fill under another spelling, are errors. A name PostgreSQL can't take is one
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
from elt_dagster.engine.load.type_changes import WIDENINGS
from elt_dagster.engine.names import OWN_COLUMNS, RESERVED_PREFIX
from elt_dagster.engine.sources.files.names import NORMALIZERS, key_hint
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster.engine.types import STRING


def postgres_name(name: str) -> str:
    """`name` cut to PostgreSQL's 63 bytes (on a character boundary), as the server would cut it."""
    encoded = name.encode()
    if len(encoded) <= MAX_IDENTIFIER_BYTES:
        return name
    return encoded[:MAX_IDENTIFIER_BYTES].decode(errors="ignore")


class ColumnMapper:
    """Maps source files' column names onto the pipeline's columns: `sources` are the columns' `from` names by
    column, `normalize` a `schema.normalize_names` rule, `keys` the settings naming key columns (for `check_keys`)."""

    def __init__(
        self,
        declared: list[str],
        strict: bool,
        sources: dict[str, str] | None = None,
        normalize: str | None = None,
        keys: dict[str, list[str]] | None = None,
    ):
        self.strict = strict
        self.columns: list[str] = list(declared)
        self._by_key = {name.lower(): name for name in declared}
        self._spelled: dict[str, str] = {}  # a discovered column's key -> the first source name that made it
        self._from = {source.lower(): column for column, source in (sources or {}).items()}
        self._normalize = NORMALIZERS[normalize] if normalize else None
        self._keys = keys or {}
        self.found_types: dict[str, str] = {}
        """Each observed column's type in the files (a Parquet schema's, text for other formats): the type of an
        undeclared column in a pipeline without `schema` (`pipeline_column_types`)."""

    def target_name(self, source_name: str, position: int, source: str) -> str | None:
        """The table column for the file column `source_name` at `position` (0-based); None to skip it."""
        trimmed = source_name.strip().lstrip("\ufeff").strip()
        key = trimmed.lower() or f"column_{position + 1}"
        if key in self._from:
            return self._from[key]
        if key in OWN_COLUMNS:
            return None
        if self._normalize is not None:
            key = self._normalize(trimmed) or f"column_{position + 1}"
        if key in self._by_key:
            return self._by_key[key]
        if self.strict:
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

    def observe(self, names: list[str], source: str, types: list[str] | None = None) -> None:
        """Take note of a file's column names (new ones become columns unless strict), and check them (`targets`);
        `types`: the file's own type of each column (a Parquet schema's), None for text."""
        found = types or [STRING.name] * len(names)
        for target, kind in zip(self.targets(names, source), found, strict=True):
            if target is not None:
                self.found_types[target] = _common_type(self.found_types.get(target, kind), kind)

    def targets(self, names: list[str], source: str) -> list[str | None]:
        """The column of each of a file's names (None: skipped); an ExtractError when two land in one column or when
        a key column is filled by none of them but would be under another spelling (`check_keys`)."""
        found: list[str | None] = []
        by_target: dict[str, str] = {}
        for position, name in enumerate(names):
            target = self.target_name(name, position, source)
            if target in by_target:
                first = by_target[target]
                raise ExtractError(f"{source}: columns {first!r} and {name!r} both map to {target!r} ({self._rule})")
            if target is not None:
                by_target[target] = name
            found.append(target)
        if self._keys:
            self.check_keys(names, by_target, source)
        return found

    @property
    def _rule(self) -> str:
        """How names were matched, for the error of two names in one column."""
        rule = "names match case-insensitively" + (" after schema.normalize_names" if self._normalize else "")
        return rule + (", or by a column's `from`" if self._from else "")

    def check_keys(self, names: list[str], filled: dict[str, str], source: str) -> None:
        """An ExtractError when a key column (`target.primary_key`, `target.order_by`) is none of the `filled`
        columns while one of `names` would fill it spelled otherwise: every row of the file would lack its key."""
        columns = {column.lower() for column in filled}
        for setting, keys in self._keys.items():
            for key in keys:
                if key.strip().lower() in columns:
                    continue
                hint = key_hint(setting, key, names, self._normalize is not None, source)
                if hint:
                    raise ExtractError(hint)


def _common_type(first: str, second: str) -> str:
    """The type of a column two files type as `first` and `second`: the same, the wider number, else text."""
    if first == second or (second, first) in WIDENINGS:
        return first
    return second if (first, second) in WIDENINGS else STRING.name
