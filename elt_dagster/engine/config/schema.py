"""The `schema:` section: the declared columns, their canonical types, and the columns written as a mapping
(`columns.py`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from elt_dagster.engine.errors import StrictModel
from elt_dagster.engine.names import OWN_COLUMNS, RESERVED_PREFIX
from elt_dagster.engine.types import find, known_spellings

from .column_sources import check_column_sources
from .columns import RULES_KEY, ColumnRules, split_column_mappings

MAX_IDENTIFIER_BYTES = 63
SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})
"""PostgreSQL's system columns: no table column can have these names."""
MAX_DATA_COLUMNS = 1600 - len(OWN_COLUMNS)
"""PostgreSQL's 1,600 columns per table, less elt-dagster's own (`_elt_row_hash`, ...: up to eight by mode)."""


class Schema(StrictModel):
    """Declared columns and their canonical types; `rules` holds the columns written as a mapping (type, rules,
    description) by name; `strict_mode` keeps only the declared columns; `max_rejected` fails a run past a share
    (`"5%"`) or a count of rejected records (see `engine/reject_limit.py`)."""

    columns: dict[str, str] = Field(default_factory=dict)
    rules: dict[str, ColumnRules] = Field(default_factory=dict, validation_alias=RULES_KEY)
    strict_mode: bool = False
    normalize_names: Literal["snake_case"] | None = None
    """How every source name is mapped before it is matched to the columns (sources/files/names.py); `from` wins."""
    max_rejected: int | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_mappings(cls, data: Any) -> Any:
        return split_column_mappings(data)

    @model_validator(mode="after")
    def _one_column_per_source(self) -> Schema:
        check_column_sources(self.columns, self.rules)
        return self

    @field_validator("max_rejected", mode="before")
    @classmethod
    def _reject_limit(cls, value: Any) -> int | str | None:
        return reject_limit_setting(value)

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
            raise ValueError(f"{len(canonical)} columns: a table holds at most {MAX_DATA_COLUMNS} besides our own")
        return canonical


_LIMIT_FORMS = 'a share of the records read such as "5%" (0 to 100) or a count of records such as 100'


def reject_limit_setting(value: Any, forms: str = _LIMIT_FORMS) -> int | str | None:
    """`max_rejected` (or `target.max_deleted`, whose `forms` are said otherwise) as stored: a count (an int, 0 or
    more) or a share written `"<0..100>%"`; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, float):
        raise ValueError(f'{value!r}: a count is a whole number (a share is written with %, e.g. "{value:g}%")')
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {forms}")
    text = str(value).strip()
    if isinstance(value, int) or text.isdigit():
        if int(text) < 0:
            raise ValueError(f"{value!r} is negative: give {forms}")
        return int(text)
    try:
        share = Decimal(text[:-1].strip()) if text.endswith("%") else None
    except InvalidOperation:
        share = None
    if share is None or not share.is_finite():
        raise ValueError(f"{value!r} is not {forms}")
    if not 0 <= share <= 100:
        raise ValueError(f"{value!r} is not between 0% and 100%")
    return f"{share:f}%"
