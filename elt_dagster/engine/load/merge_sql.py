"""The SQL that writes a merge's winners into the table, and the conditions its queries share."""

from __future__ import annotations

import psycopg
from psycopg import sql

from elt_dagster.engine.load.tables import names_sql
from elt_dagster.engine.names import LOADED_AT_COLUMN, SEQ_COLUMN


def write_winners(
    conn: psycopg.Connection,
    table: sql.Composable,
    keys: list[str],
    order: str | None,
    names: list[str],
    winners: sql.Composable,
    cleared: tuple[str, ...] = (),
) -> tuple[int, int]:
    """Update the stored rows of `table` whose key has a row in table `winners` (unless the stored `order` value is
    later; columns `cleared` set to NULL), insert the others; returns (inserted, updated)."""
    newer = sql.SQL("")
    if order:  # a stored row with a later `order_by` stays
        newer = sql.SQL(" AND (t.{o} IS NULL OR w.{o} >= t.{o})").format(o=sql.Identifier(order))
    updates = sql.SQL(", ").join(
        [
            *(sql.SQL("{n} = w.{n}").format(n=sql.Identifier(n)) for n in names if n not in keys),
            *(sql.SQL("{} = NULL").format(sql.Identifier(n)) for n in cleared),
        ]
    )
    parts = {
        "t": table,
        "w": winners,
        "same": same_key(keys, "t", "w"),
        "newer": newer,
        "loaded_at": sql.Identifier(LOADED_AT_COLUMN),
        "updates": updates,
        "names": names_sql(names),
    }
    if merge_returns_actions(conn):  # one join of the winners with the table, for both writes
        added, updated = conn.execute(
            sql.SQL(
                "WITH m AS (MERGE INTO {t} AS t USING {w} AS w ON {same} "
                "WHEN MATCHED{newer} THEN UPDATE SET {updates}, {loaded_at} = now() "
                "WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values}) RETURNING merge_action() AS action) "
                "SELECT count(*) FILTER (WHERE action = 'INSERT'), count(*) FILTER (WHERE action = 'UPDATE') FROM m"
            ).format(**parts, values=sql.SQL(", ").join(sql.SQL("w.{}").format(sql.Identifier(n)) for n in names))
        ).fetchone()
        return added, updated
    updated = conn.execute(
        sql.SQL("UPDATE {t} AS t SET {updates}, {loaded_at} = now() FROM {w} AS w WHERE {same}{newer}").format(**parts)
    ).rowcount
    added = conn.execute(
        sql.SQL(
            "INSERT INTO {t} ({names}) SELECT {names} FROM {w} AS w WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {same})"
        ).format(**parts)
    ).rowcount
    return added, updated


def merge_returns_actions(conn: psycopg.Connection) -> bool:
    """Whether the server has `MERGE ... RETURNING merge_action()` (PostgreSQL 17 and later)."""
    return conn.info.server_version >= 170000


def same_key(keys: list[str], left: str, right: str) -> sql.Composable:
    """`left.k1 = right.k1 AND ...`: rows `left` and `right` have the same key."""
    return sql.SQL(" AND ").join(
        sql.SQL("{l}.{k} = {r}.{k}").format(k=sql.Identifier(k), l=sql.Identifier(left), r=sql.Identifier(right))
        for k in keys
    )


def later_row(order: str | None, a: str, b: str) -> sql.Composable:
    """Whether row `a` comes after row `b` of the same key in the winners' order (NULL `order` first)."""
    seq = sql.SQL("{a}.{s} > {b}.{s}").format(a=sql.Identifier(a), b=sql.Identifier(b), s=sql.Identifier(SEQ_COLUMN))
    if not order:
        return seq
    return sql.SQL(
        "({a}.{o} > {b}.{o} OR ({a}.{o} IS NOT NULL AND {b}.{o} IS NULL) OR ({a}.{o} IS NOT DISTINCT FROM {b}.{o} AND {seq}))"
    ).format(a=sql.Identifier(a), b=sql.Identifier(b), o=sql.Identifier(order), seq=seq)


def superseded_rows(conn: psycopg.Connection, keys: list[str], tables: list[sql.Composable]) -> int:
    """How many of the rows of `tables` (the rows read, each in one of them) lose to a later row of their key:
    the rows, less their distinct keys."""
    counts = sql.SQL(" + ").join(sql.SQL("(SELECT count(*) FROM {})").format(t) for t in tables)
    union = sql.SQL(" UNION ").join(sql.SQL("SELECT DISTINCT {} FROM {}").format(names_sql(keys), t) for t in tables)
    return conn.execute(sql.SQL("SELECT {} - (SELECT count(*) FROM ({}) AS k)").format(counts, union)).fetchone()[0]
