"""The reject limit, `schema.max_rejected`: a run whose input is mostly garbage fails instead of loading the few good
rows.

Checked once per run, over all its sources together (per partition, for a partitioned pipeline), after every
source is loaded and before the strategy finishes: rejected / (valid + rejected) > the share, or rejected > the
count, fails the run (a run that read nothing never does). The run's transaction rolls back, so the table, its
fingerprints and cursors stay as they were; then the run's rejects are quarantined in a transaction of their own,
so `elt-dagster rejects <pipeline>` lists them. A replay (`elt-dagster rejects replay`) is not limited.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load.quarantine import quarantine
from elt_dagster.engine.load.tables import ensure_quarantine
from elt_dagster.engine.names import REJECTED_SUFFIX, qualified_name
from elt_dagster.engine.staging import StagingWriter

TOP_REASONS = 3
REASON_CHARACTERS = 120
"""A reason longer than this is cut in the message (the quarantine keeps it whole)."""


class RejectLimitExceeded(PipelineError):
    """A run rejected more records than `schema.max_rejected` allows: none of its rows were committed."""


def over_limit(limit: int | str, rejected: int, valid: int) -> bool:
    """Whether `rejected` of `valid + rejected` records is past `limit` (a count, or a share written `"5%"`)."""
    if valid + rejected == 0:
        return False
    if isinstance(limit, int):
        return rejected > limit
    return rejected * 100 > Decimal(limit.removesuffix("%")) * (valid + rejected)


def top_reasons(rejects_path: Path, top: int = TOP_REASONS) -> list[tuple[str, int]]:
    """The most frequent kinds of reason in a run's rejects file (JSON Lines), by column, with their counts, most
    frequent first: 60 bad amounts are one `column 'amount': is not a decimal number ...` of 60, not 60 reasons."""
    counts: Counter[str] = Counter()
    if rejects_path.exists():
        with rejects_path.open(encoding="utf-8") as handle:
            for line in handle:
                reject = json.loads(line)
                kind, column = reject.get("reason_kind"), reject.get("column")
                counts[reject["reason"] if not kind else f"column {column!r}: {kind}" if column else kind] += 1
    return counts.most_common(top)


class RejectLimit:
    """The limit of one run: `check` raises RejectLimitExceeded past it; used as a context manager around the
    run's transaction, it quarantines the run's rejects once that transaction has rolled back."""

    def __init__(
        self, conn: psycopg.Connection, loaded: LoadedConfig, staging: StagingWriter, run_id: str, partition: str | None
    ):
        self.conn, self.loaded, self.staging, self.run_id, self.partition = conn, loaded, staging, run_id, partition
        schema = loaded.config.schema_
        self.limit = schema.max_rejected if schema is not None else None

    def check(self, valid: int, rejected: int) -> None:
        """Raise RejectLimitExceeded (one line: counts, limit, top reasons, where to see them) when past the limit."""
        if self.limit is None or not over_limit(self.limit, rejected, valid):
            return
        self.staging.flush()
        read = valid + rejected
        reasons = "; ".join(
            f"{_one_line(reason)} ({count} record{'' if count == 1 else 's'})"
            for reason, count in top_reasons(self.staging.rejects_path)
        )
        where = f"partition {self.partition} of " if self.partition is not None else ""
        target = self.loaded.config.target
        raise RejectLimitExceeded(
            f"{where}pipeline {self.loaded.name!r}: {rejected} of {read} records read were rejected "
            f"({rejected * 100 / read:.3g}%), past schema.max_rejected: {self.limit}, so no row was loaded "
            f"(the table is as it was); top reasons: {reasons}; the rejects are in "
            f"{qualified_name(target, REJECTED_SUFFIX)}: `elt-dagster rejects {self.loaded.name}` lists them; "
            "fix the YAML (or the files) and run again"
        )

    def __enter__(self) -> RejectLimit:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if isinstance(exc, RejectLimitExceeded):
            self.keep_rejects()

    def keep_rejects(self) -> None:
        """The run's rejects into the quarantine table, in a transaction of their own (only the quarantine table is
        created if missing: a first load's table was rolled back with its rows)."""
        target = self.loaded.config.target
        with self.conn.transaction():
            # the same locks as ensure_tables: a twin run can't race this one to create the schema or the table
            self.conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('elt.table:' || %s || '.' || %s))",
                (target.db_schema, target.table),
            )
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext('elt.schema:' || %s))", (target.db_schema,))
            self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(target.db_schema)))
            ensure_quarantine(self.conn, target, self.partition is not None)
            quarantine(self.conn, target, self.staging.rejects_path, self.run_id, self.partition)


def _one_line(reason: str) -> str:
    """A reason as part of one line: its whitespace (a value's line breaks) folded, cut at REASON_CHARACTERS."""
    text = " ".join(reason.split())
    return text if len(text) <= REASON_CHARACTERS else text[: REASON_CHARACTERS - 3] + "..."
