"""`schema.columns.<column>.from`: the source name (a CSV header, a JSON or API record key) a column takes its values
from. Each source name feeds one column; errors are reported at the `from` key and its line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from .columns import RULES_KEY

if TYPE_CHECKING:
    from .columns import ColumnRules


def column_sources(rules: dict[str, ColumnRules]) -> dict[str, str]:
    """Each column with a `from`, mapped to its source name (trimmed)."""
    return {name: column.source_name.strip() for name, column in rules.items() if column.source_name is not None}


def check_column_sources(declared: Iterable[str], rules: dict[str, ColumnRules]) -> None:
    """ValidationError at `columns.<column>.from` for an empty `from`, two columns from one source name, or a `from`
    naming another declared column that has no `from` of its own (which column would a header of that name fill?)."""
    sources = column_sources(rules)
    taken: dict[str, str] = {}
    for name, source in sources.items():
        if not source:
            _fail(name, 'from is empty: give the source\'s name for the column, e.g. from: "Order ID"')
        other = taken.setdefault(source.lower(), name)
        if other != name:
            _fail(name, f"{source!r} is already the source of column {other!r}: a source name fills one column")
        fed = next((n for n in declared if n.lower() == source.lower() and n != name and n not in sources), None)
        if fed is not None:
            _fail(name, f"{source!r} is the name of declared column {fed!r} too: give that column a `from` of its own")


def _fail(column: str, message: str) -> None:
    error = InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=(RULES_KEY, column, "from"), input=column
    )
    raise ValidationError.from_exception_data("Schema", [error])
