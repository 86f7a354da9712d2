"""The column types: one record per type with everything that differs by type. Every other module asks here.

Adding a type is adding a record to `TYPES` (a test registers one and loads it end to end). Nothing here imports
pyarrow: a config is checked without it; the Arrow type and the standardiser are resolved when data is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from typing import Any

from elt_dagster.engine.transform.patterns import (
    DECIMAL_TEXT,
    FLOAT_TEXT,
    INTEGER_TEXT,
    MAX_DIGITS_AFTER_POINT,
    MAX_DIGITS_BEFORE_POINT,
    SHIFTED_OUTSIDE,
    YEARS_OUTSIDE,
)

ORDERED_RULES = frozenset({"min", "max", "allowed"})
TEMPORAL_RULES = ORDERED_RULES | {"format"}
NUMBER_RULES = ORDERED_RULES | {"number_format"}
"""`number_format`: the column's `thousands`, `decimal_mark`, `currency` and `trailing_minus` (transform/numbers.py)."""
ALL_RULES = ("min", "max", "allowed", "pattern", "format", "number_format")
"""The rules a type may allow (`not_null` applies to every type)."""
BINARY_KINDS = ("cast", "truth", "digits", "jsonb")
"""How `load/binary` encodes a column: its Arrow type as is, `t`/`f` as booleans, numeric digits (each value its own scale), text as jsonb."""


def _standardize_with(function: str, options: dict[str, Any], values: Any) -> Any:
    return getattr(import_module("elt_dagster.engine.transform.standardize"), function)(values, **options)


def standardizer(function: str, **options: Any) -> Callable[[Any], Any]:
    """The function `function` of `transform/standardize` with `options`, imported on its first call (pyarrow)."""
    return partial(_standardize_with, function, options)


@dataclass(frozen=True)
class ColumnType:
    """One column type: how YAML names it, how PostgreSQL stores it, how values are read, checked and sent."""

    name: str
    """The canonical name, as `schema.columns` gives it after aliases are resolved."""
    aliases: tuple[str, ...]
    pg_type: str
    """The type in the DDL."""
    pg_format: str
    """The same type as PostgreSQL's format_type() spells it (what the table reports)."""
    description: str
    """What a value must be: a rejected value "is not <description>"."""
    standardize: Callable[[Any], Any]
    """Text array in, (canonical text, failed mask) out."""
    arrow: tuple[Any, ...]
    """The pyarrow type the canonical text casts to, as (pyarrow function, *arguments): for min/max and binary COPY."""
    binary: str
    """One of BINARY_KINDS."""
    rules: frozenset[str] = frozenset()
    """Which of ALL_RULES apply."""
    out_of_range: tuple[str, str] | None = None
    """(pattern a failed value written as one of the type's values matches, the reason said for it instead)."""
    integer_key: bool = False
    """A one-column key of this type is kept as int64 numbers while merging."""
    is_text: bool = False
    """Values are free text: quoted in reasons, hashed with their separators escaped."""
    has_nan: bool = False
    """NaN is a value (above every number, as in PostgreSQL), never a rule's bound."""
    exact_order: bool = False
    """Arrow's order type is approximate (float64 for numeric): ties are compared as Python decimals."""
    takes_yaml_booleans: bool = False
    """A rule's value may be a YAML boolean (`allowed: [true]`); for other types it is a mistake."""
    typed_inputs: frozenset[str] = frozenset()
    """Arrow types (as `transform/typed.arrow_kind` names them: `int64`, `timestamp[ms, tz]`) the standardiser
    takes as they are, giving the canonical text their text would give: a Parquet column of such a type is never
    turned into text and parsed back."""

    def arrow_type(self) -> Any:
        """The pyarrow type (imports pyarrow)."""
        import pyarrow as pa

        function, *arguments = self.arrow
        return getattr(pa, function)(*arguments)

    @property
    def temporal(self) -> bool:
        """Whether values are points in time (a date or a timestamp): they have a `format`."""
        return "format" in self.rules

    @property
    def ordered(self) -> bool:
        """Whether values have an order, for `min` and `max`."""
        return "min" in self.rules


_INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"})
_TIMESTAMPS = frozenset({"timestamp[s]", "timestamp[ms]", "timestamp[us]"})
_RANGE_YEARS = "is out of range for a {} (years 1 to 9999)"
_TIMESTAMP_RANGE = (f"{YEARS_OUTSIDE}|{SHIFTED_OUTSIDE}", _RANGE_YEARS.format("timestamp"))

INTEGER = ColumnType(
    "integer", ("int",), "integer", "integer", "an integer (32-bit)", standardizer("standardize_integer", bits=32),
    ("int32",), "cast", NUMBER_RULES, (INTEGER_TEXT, "is out of range for an integer (32-bit)"), integer_key=True,
    typed_inputs=_INTEGERS,
)  # fmt: skip
BIGINT = ColumnType(
    "bigint", (), "bigint", "bigint", "an integer (64-bit)", standardizer("standardize_integer", bits=64),
    ("int64",), "cast", NUMBER_RULES, (INTEGER_TEXT, "is out of range for an integer (64-bit)"), integer_key=True,
    typed_inputs=_INTEGERS,
)  # fmt: skip
FLOAT = ColumnType(
    "float", (), "double precision", "double precision", "a number", standardizer("standardize_float"),
    ("float64",), "cast", NUMBER_RULES, ("(?i)" + FLOAT_TEXT, "is out of range for a number (double precision)"),
    has_nan=True, typed_inputs=frozenset({"double"}),
)  # fmt: skip
DECIMAL = ColumnType(
    "decimal", ("numeric",), "numeric", "numeric", "a decimal number (with a dot)", standardizer("standardize_decimal"),
    ("float64",), "digits", NUMBER_RULES,
    (DECIMAL_TEXT, f"is beyond PostgreSQL's numeric range ({MAX_DIGITS_BEFORE_POINT:,} digits before the point, "
     f"{MAX_DIGITS_AFTER_POINT:,} after)"),
    exact_order=True, typed_inputs=frozenset({"decimal32", "decimal64", "decimal128", "decimal256"}),
)  # fmt: skip
STRING = ColumnType(
    "string", ("text",), "text", "text", "text without NUL characters", standardizer("standardize_string"),
    ("string",), "cast", frozenset({"allowed", "pattern"}), is_text=True,
)  # fmt: skip
BOOLEAN = ColumnType(
    "boolean", ("bool",), "boolean", "boolean", "a boolean (true/false, yes/no, 1/0)",
    standardizer("standardize_boolean"), ("bool_",), "truth", frozenset({"allowed"}), takes_yaml_booleans=True,
    typed_inputs=frozenset({"bool"}),
)  # fmt: skip
DATE = ColumnType(
    "date", (), "date", "date", "a date", standardizer("standardize_date"), ("date32",), "cast", TEMPORAL_RULES,
    (YEARS_OUTSIDE, _RANGE_YEARS.format("date")), typed_inputs=frozenset({"date32[day]"}),
)  # fmt: skip
TIMESTAMP = ColumnType(
    "timestamp", ("datetime",), "timestamp", "timestamp without time zone", "a timestamp",
    standardizer("standardize_timestamp"), ("timestamp", "us"), "cast", TEMPORAL_RULES, _TIMESTAMP_RANGE,
    typed_inputs=_TIMESTAMPS,
)  # fmt: skip
TIMESTAMPTZ = ColumnType(
    "timestamptz", (), "timestamptz", "timestamp with time zone", "a timestamp",
    standardizer("standardize_timestamp", with_zone=True), ("timestamp", "us", "UTC"), "cast", TEMPORAL_RULES,
    _TIMESTAMP_RANGE, typed_inputs=frozenset(f"{kind[:-1]}, tz]" for kind in _TIMESTAMPS),
)  # fmt: skip
JSON = ColumnType(
    "json", (), "jsonb", "jsonb", "valid JSON that jsonb can store (no NaN, no NUL, numbers within numeric's range)",
    standardizer("standardize_json"), ("string",), "jsonb",
)  # fmt: skip

TYPES: dict[str, ColumnType] = {t.name: t for t in (INTEGER, BIGINT, FLOAT, DECIMAL, STRING, BOOLEAN, DATE,
                                                     TIMESTAMP, TIMESTAMPTZ, JSON)}  # fmt: skip
"""Every column type by canonical name. Add a record here to add a type."""
DEFAULT = STRING
"""The type of a column the schema does not declare."""


def typed_input_kinds() -> frozenset[str]:
    """Every Arrow type some standardiser takes as it is (`ColumnType.typed_inputs`): a reader keeps these typed."""
    return frozenset().union(*(t.typed_inputs for t in TYPES.values()))


def find(written: str) -> ColumnType | None:
    """The type a YAML spelling names (`int`, ` Timestamp `), None for an unknown one."""
    spelled = written.strip().lower()
    return next((t for t in TYPES.values() if spelled == t.name or spelled in t.aliases), None)


def known_spellings() -> list[str]:
    """Every name and alias accepted in `schema.columns`, sorted."""
    return sorted(spelling for t in TYPES.values() for spelling in (t.name, *t.aliases))


def of(name: str) -> ColumnType:
    """The type of canonical name `name`; the default (text) for a name the registry doesn't hold."""
    return TYPES.get(name, DEFAULT)


def by_pg_format(spelling: str) -> ColumnType | None:
    """The type whose column PostgreSQL's format_type() spells `spelling`; None for a type no record creates."""
    return next((t for t in TYPES.values() if t.pg_format == spelling), None)
