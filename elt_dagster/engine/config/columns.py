"""A declared column: its type, and in the mapping form (`amount: {type: decimal, min: 0}`) the rules each value must
meet and a description.

Rule values are read as the data is: through the column type's standardiser, so `min: 0.50` on a decimal column is
`0.5` and a timestamptz bound is an instant in UTC. What can't be read so is a config error at the rule's key.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from elt_dagster.engine.errors import StrictModel
from elt_dagster.engine.types import DEFAULT, TYPES, find

if TYPE_CHECKING:
    from elt_dagster.engine.transform.numbers import NumberFormat

_SPELLING_EXAMPLES = 'thousands: ",", decimal_mark: ",", currency: "$"'
RULES_KEY = "columns (rules)"
"""Where `Schema` keeps the mapping-form columns while validating; errors there are reported under `columns`."""


class ColumnRules(StrictModel):
    """One column written as a mapping: its type, the rules each non-NULL value must meet (`not_null` aside), and a
    description. `min`, `max` and `allowed` hold canonical text, as the data is standardised."""

    type: str
    not_null: bool = False
    min: str | None = None
    max: str | None = None
    allowed: list[str] | None = None
    pattern: str | None = None
    format: str | None = None
    thousands: str | None = None
    decimal_mark: str | None = None
    currency: str | None = None
    trailing_minus: bool = False
    source_name: str | None = Field(default=None, alias="from")
    """`from`: the source name (header, record key) the column takes its values from (`column_sources.py`)."""
    description: str | None = None

    @property
    def column_type(self) -> str:
        """The canonical type name (`int` -> `integer`)."""
        return (find(self.type) or DEFAULT).name

    @property
    def checks_values(self) -> bool:
        """Whether any rule (or a `format`, or how numbers are written) applies: a description alone checks nothing."""
        return (
            self.not_null
            or self.spells_numbers
            or any(v is not None for v in (self.min, self.max, self.allowed, self.pattern, self.format))
        )

    @property
    def spells_numbers(self) -> bool:
        """Whether the column says how its numbers are written (`thousands`, `decimal_mark`, ...)."""
        return self.trailing_minus or any(v is not None for v in (self.thousands, self.decimal_mark, self.currency))

    @property
    def number_format(self) -> NumberFormat | None:
        """How the column's numbers are written, or None for the plain spelling."""
        if not self.spells_numbers:
            return None
        from elt_dagster.engine.transform.numbers import NumberFormat  # pyarrow: not when the YAML is read

        return NumberFormat(self.thousands, self.decimal_mark or ".", self.currency, self.trailing_minus)

    @field_validator("thousands", "decimal_mark", "currency", "trailing_minus", mode="before")
    @classmethod
    def _number_spelling(cls, value: Any, info: ValidationInfo) -> Any:
        type_name = _declared_type(info)
        if value is None or value is False or type_name is None:
            return value
        if "number_format" not in TYPES[type_name].rules:
            raise ValueError(f"{info.field_name} applies to number columns, not to a column of type {type_name}")
        if info.field_name == "trailing_minus":
            return value
        if not isinstance(value, str) or not value or any(c.isdigit() or c in "+-" for c in value):
            raise ValueError(f"{info.field_name} must be text without digits or signs, e.g. {_SPELLING_EXAMPLES}")
        if info.field_name == "thousands" and len(value) != 1:
            raise ValueError('thousands must be one character: e.g. "," or "." or "\'" or a space')
        if info.field_name == "decimal_mark" and value not in (".", ","):
            raise ValueError('decimal_mark must be "." or ","')
        return value

    @model_validator(mode="after")
    def _marks_differ(self) -> ColumnRules:
        if self.thousands is not None and self.thousands == (self.decimal_mark or "."):
            raise ValueError(f'thousands and decimal_mark are both {self.thousands!r}: set decimal_mark: ","')
        return self

    @field_validator("min", "max", mode="before")
    @classmethod
    def _bound(cls, value: Any, info: ValidationInfo) -> Any:
        type_name = _declared_type(info)
        if value is None or type_name is None:
            return value if value is None else str(value)
        if not TYPES[type_name].ordered:
            raise ValueError(
                f"{info.field_name} applies to numbers, dates and timestamps, not to a column of type {type_name}"
            )
        bound = canonical_value(value, type_name)
        low = info.data.get("min")
        if info.field_name == "max" and low is not None and _below(bound, low, type_name):
            raise ValueError(f"max {bound} is below min {low}")
        return bound

    @field_validator("allowed", mode="before")
    @classmethod
    def _allowed(cls, value: Any, info: ValidationInfo) -> Any:
        type_name = _declared_type(info)
        if value is None or type_name is None:
            return [str(item) for item in value] if isinstance(value, list) else value
        if not isinstance(value, list):
            raise ValueError("allowed must be a list of values, e.g. [open, paid]")
        if not value:
            raise ValueError("allowed is empty: give at least one value")
        if "allowed" not in TYPES[type_name].rules:
            raise ValueError(f"allowed does not apply to a {type_name} column")
        allowed: list[str] = []
        for index, item in enumerate(value):
            try:
                text = canonical_value(item, type_name)
            except ValueError as exc:
                raise ValueError(f"allowed[{index}]: {exc}") from None
            if text not in allowed:
                allowed.append(text)
        return allowed

    @field_validator("pattern", mode="before")
    @classmethod
    def _pattern(cls, value: Any, info: ValidationInfo) -> Any:
        type_name = _declared_type(info)
        if value is None or type_name is None:
            return value
        if "pattern" not in TYPES[type_name].rules:
            raise ValueError(f"pattern applies to string columns, not to a column of type {type_name}")
        if not isinstance(value, str) or not value:
            raise ValueError("pattern must be a regular expression (text)")
        check_pattern(value)
        return value

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any, info: ValidationInfo) -> Any:
        type_name = _declared_type(info)
        if value is None or type_name is None:
            return value
        if "format" not in TYPES[type_name].rules:
            raise ValueError(f"format applies to date and timestamp columns, not to a column of type {type_name}")
        if not isinstance(value, str) or "%" not in value:
            raise ValueError("format must be strptime directives, e.g. '%d/%m/%Y' or '%d/%m/%Y %H:%M'")
        if "%z" in value or "%Z" in value:
            raise ValueError("format can't read a zone (%z): values with an offset are read by the usual spellings")
        check_format(value, type_name)
        return value


def check_format(fmt: str, type_name: str) -> None:
    """ValueError unless `fmt` reads back a date it writes (a typo such as `%d/%m/%Q` does not)."""
    from datetime import datetime

    import pyarrow as pa

    from elt_dagster.engine.transform.temporal import standardize_with_format

    try:
        sample = datetime(2024, 1, 31, 13, 45, 30).strftime(fmt)
    except ValueError as exc:
        raise ValueError(f"format {fmt!r}: {exc}") from None
    column_type = TYPES[type_name]
    _, failed = standardize_with_format(pa.array([sample]), column_type.arrow_type(), fmt, column_type.standardize)
    if failed[0].as_py():
        raise ValueError(f"format {fmt!r} can't read back what it writes ({sample!r}): check its directives")


def _declared_type(info: ValidationInfo) -> str | None:
    """The column's canonical type; None when it is unknown (reported on the column, not on each rule)."""
    written = info.data.get("type")
    found = find(written) if isinstance(written, str) else None
    return found.name if found is not None else None


def canonical_value(value: Any, type_name: str) -> str:
    """A rule's value as canonical text of `type_name`, read as a data value would be; ValueError if it can't be."""
    from elt_dagster.engine.transform.rules import standardize_one  # pyarrow: only for a config with rules

    column_type = TYPES[type_name]
    if value is None or isinstance(value, list | dict):
        raise ValueError(f"{value!r} is not {column_type.description}")
    if isinstance(value, bool | float) and column_type.is_text:
        raise ValueError(f"YAML reads {value!r} as a {type(value).__name__}: put the text in quotes")
    if isinstance(value, bool) and not column_type.takes_yaml_booleans:
        raise ValueError(f"{value!r} is not {column_type.description}")
    text, failed = standardize_one(str(value), type_name)
    if failed or (column_type.has_nan and text == "nan"):
        raise ValueError(f"{str(value)!r} is not {column_type.description}")
    if text is None:
        raise ValueError("an empty value: NULL passes every rule except not_null")
    return text


def _below(text: str, other: str, type_name: str) -> bool:
    from elt_dagster.engine.transform.rules import order_key

    return bool(order_key(text, type_name) < order_key(other, type_name))


def check_pattern(pattern: str) -> None:
    """ValueError unless `pattern` is a regular expression that RE2 (pyarrow's engine, which runs it) accepts."""
    from elt_dagster.engine.transform.rules import regex_error

    problem = regex_error(pattern)
    if problem is None:
        return
    try:
        re.compile(pattern)
    except re.error as python_error:
        raise ValueError(f"invalid regular expression: {python_error}") from None
    raise ValueError(
        f"RE2, the regular expression engine used, rejects it ({problem}): "
        "backreferences and lookahead/lookbehind are not supported"
    )


def split_column_mappings(data: Any) -> Any:
    """`Schema` input with each mapping-form column split in two: its type under `columns`, the whole mapping under
    RULES_KEY (which the user can't set). Anything else is left for the field validators to judge."""
    if not isinstance(data, dict):
        return data
    kept = {key: value for key, value in data.items() if key != RULES_KEY}
    columns = data.get("columns")
    if not isinstance(columns, dict):
        return kept
    types: dict[Any, Any] = {}
    rules: dict[Any, Any] = {}
    for name, value in columns.items():
        if isinstance(value, dict):
            rules[name] = value
            if "type" in value:
                types[name] = value["type"]
        else:
            types[name] = value
    return {**kept, "columns": types, RULES_KEY: rules}
