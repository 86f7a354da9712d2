"""Merge into a table this run created: every key's winner inserted as it is picked, its index built after."""

from __future__ import annotations

from psycopg import sql

from elt_dagster.engine.load.base import LoadContext
from elt_dagster.engine.load.hashset import HashSet
from elt_dagster.engine.load.merge import MergeInProducer
from elt_dagster.engine.load.merge_sql import superseded_rows
from elt_dagster.engine.load.tables import create_indexes, drop_indexes, names_sql, table_ident


class MergeIntoNewTable(MergeInProducer):
    """Into a table this run created: no stored row, so every winner is new and inserted as it is picked; the
    key's index is built once, after the rows are in (nobody else sees the table yet)."""

    name = "merge-new-table"

    def __init__(self, context: LoadContext, reason: str):
        super().__init__(context, reason, HashSet.empty())
        drop_indexes(self.conn, self.target)

    @classmethod
    def open(cls, context: LoadContext, reason: str) -> MergeIntoNewTable:
        return cls(context, reason)

    def count_superseded(self) -> int:  # every winner was inserted: the other staged rows lost to one
        if self.each_key_once:
            return 0
        if self.deletes.flag:  # flagged winners were not inserted
            return superseded_rows(self.conn, self.keys, [self.stage])
        return self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self.stage)).fetchone()[0] - self.inserted

    def write(self) -> tuple[int, int]:
        self.each_key_once = self.no_key_repeats()
        if self.each_key_once:
            winners: sql.Composable = sql.SQL("SELECT {} FROM {}").format(names_sql(self.written), self.stage)
        else:
            winners = self.winners_query([])
        if self.deletes.flag:  # a new table holds no key to delete: flagged winners are left out
            winners = sql.SQL("SELECT {} FROM {} AS u").format(
                names_sql(self.written), self.deletes.unflagged(sql.SQL("({})").format(winners))
            )
        extra = self.version_columns("w")
        added = self.conn.execute(
            sql.SQL(
                "INSERT INTO {t} ({names}{extra_names}) SELECT {values}{extra_values} FROM ({winners}) AS w"
            ).format(
                t=table_ident(self.target),
                names=names_sql(self.written),
                values=sql.SQL(", ").join(sql.Identifier("w", n) for n in self.written),
                extra_names=sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(n)) for n in extra),
                extra_values=sql.SQL("").join(sql.SQL(", {}").format(v) for v in extra.values()),
                winners=winners,
            )
        ).rowcount
        create_indexes(self.conn, self.target, self.business)
        # The next load joins its rows with this table: with no statistics yet (autovacuum comes later) the planner
        # takes it for a row or two and may loop over it (see MergeStrategy.write_winners)
        self.conn.execute(sql.SQL("ANALYZE {}").format(table_ident(self.target)))
        return added, 0
