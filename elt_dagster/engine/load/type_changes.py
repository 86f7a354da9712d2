"""A column's type changed in the YAML after its table was made: widen the stored column, or stop in one line.

Widening keeps every stored value as it was, so it is applied: integer -> bigint, integer or bigint -> decimal,
and any type -> string (text). Each is `ALTER TABLE ... ALTER COLUMN ... TYPE ... USING`, which takes an
ACCESS EXCLUSIVE lock and rewrites the table: PostgreSQL has no reader-safe way for these (none of our types is
binary-compatible with another), so readers of the table wait until the load commits. Anything else (text ->
decimal, bigint -> integer, timestamp -> date, ...) could fail or change stored values: the run stops before it
reads a row, with one line naming the column, both types and the SQL that migrates it.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from elt_dagster.engine.config import Target
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.names import qualified_name
from elt_dagster.engine.types import BIGINT, DECIMAL, INTEGER, STRING, TYPES, by_pg_format

WIDENINGS = frozenset({(INTEGER.name, BIGINT.name), (INTEGER.name, DECIMAL.name), (BIGINT.name, DECIMAL.name)})
"""(stored, declared) pairs applied; any type to string is one too."""


class NarrowingTypeChange(PipelineError):
    """The YAML declares a type the stored column can't be widened to without risk to its values."""


def type_changes(existing: dict[str, str], column_types: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The declared columns whose stored type (`existing`: the table's columns and their PostgreSQL types) differs
    from the YAML's: name -> (stored, declared). Columns of a type no record creates (altered by hand) are left
    alone, as the load leaves them."""
    changes = {}
    for name, pg_format in existing.items():
        stored, declared = by_pg_format(pg_format), column_types.get(name)
        if stored is not None and declared is not None and stored.name != declared:
            changes[name] = (stored.name, declared)
    return changes


def apply_type_changes(
    conn: psycopg.Connection, target: Target, existing: dict[str, str], column_types: dict[str, str]
) -> tuple[str, ...]:
    """Widen the stored columns whose declared type is wider (in the caller's transaction, under the table's lock);
    raise NarrowingTypeChange for the first that is not. Returns "column: stored -> declared" for each change made."""
    changes = type_changes(existing, column_types)
    for name, (stored, declared) in changes.items():
        if not (declared == STRING.name or (stored, declared) in WIDENINGS):
            raise NarrowingTypeChange(
                f"{qualified_name(target)}.{name} is stored as {stored} and the YAML now says {declared}: narrowing "
                f"a stored column is not done for you (a value may not fit). Migrate it yourself, e.g. "
                f"{_alter(target, name, declared).as_string(conn)}; or keep {stored} in the YAML, or load into a new "
                "table (target.table)"
            )
    for name, (_, declared) in changes.items():
        conn.execute(_alter(target, name, declared))
    return tuple(f"{name}: {stored} -> {declared}" for name, (stored, declared) in changes.items())


def _alter(target: Target, name: str, declared: str) -> sql.Composed:
    pg_type = sql.SQL(TYPES[declared].pg_type)
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
        sql.Identifier(target.db_schema, target.table), sql.Identifier(name), pg_type, sql.Identifier(name), pg_type
    )
