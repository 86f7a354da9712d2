"""The `schema:` section: the declared columns, their canonical types, and the columns written as a mapping
(`columns.py`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from elt_dagster.engine.errors import StrictModel
from elt_dagster.engine.names import RESERVED_PREFIX
from elt_dagster.engine.types import find, known_spellings

from .columns import RULES_KEY, ColumnRules, split_column_mappings

MAX_IDENTIFIER_BYTES = 63
SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})
"""PostgreSQL's system columns: no table column can have these names."""
MAX_DATA_COLUMNS = 1596
"""PostgreSQL's 1,600 columns per table, less elt-dagster's own four (`_elt_row_hash`, ...)."""


class Schema(StrictModel):
    """Declared columns and their canonical types; `rules` holds the columns written as a mapping (type, rules,
    description) by name; `strict_mode` keeps only the declared columns."""

    columns: dict[str, str] = Field(default_factory=dict)
    rules: dict[str, ColumnRules] = Field(default_factory=dict, validation_alias=RULES_KEY)
    strict_mode: bool = False

    @model_validator(mode="before")
    @classmethod
    def _split_mappings(cls, data: Any) -> Any:
        return split_column_mappings(data)

    @field_validator("rules")
    @classmethod
    def _trimmed_names(cls, rules: dict[str, ColumnRules]) -> dict[str, ColumnRules]:
        return {name.strip(): column for name, column in rules.items()}

    @field_validator("columns")
    @classmethod
    def _known_types(cls, columns: dict[str, str]) -> dict[str, str]:
        canonical: dict[str, str] = {}
        seen: set[str] = set()
        for raw_name, raw_type in columns.items():
            name = str(raw_name).strip()
            type_name = str(raw_type).strip().lower()
            if not name:
                raise ValueError("a column name is empty")
            if name.lower().startswith(RESERVED_PREFIX):
                raise ValueError(f"column {name!r}: names starting with {RESERVED_PREFIX!r} are reserved")
            if name.lower() in SYSTEM_COLUMNS:
                raise ValueError(f"column {name!r} has the name of a PostgreSQL system column")
            if len(name.encode()) > MAX_IDENTIFIER_BYTES:
                raise ValueError(f"column {name!r} is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES} bytes")
            if name.lower() in seen:
                raise ValueError(f"column {name!r} is declared twice (names match case-insensitively)")
            column_type = find(type_name)
            if column_type is None:
                known = ", ".join(known_spellings())
                raise ValueError(f"column {name!r}: unknown type {raw_type!r} (known: {known})")
            seen.add(name.lower())
            canonical[name] = column_type.name
        if len(canonical) > MAX_DATA_COLUMNS:
            raise ValueError(f"{len(canonical)} columns: a table holds at most {MAX_DATA_COLUMNS} besides our own four")
        return canonical
