"""`elt-dagster rejects PIPELINE`: what is in a pipeline's quarantine table, and why."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import TYPE_CHECKING

from elt_dagster.cli.pipelines import find_pipeline  # moved there; still importable from here
from elt_dagster.cli.secrets import without_env_secrets
from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.names import qualified_name

if TYPE_CHECKING:
    import psycopg
    from psycopg.sql import Composable

COLUMNS = [
    "id", "run_id", "source", "source_row", "column_name", "reason_kind", "value", "reason", "raw_record", "rejected_at"
]  # fmt: skip
SHOWN_COLUMNS = [name for name in COLUMNS if name != "reason_kind"]
"""The columns of the table format (the reason holds the kind)."""
SHOWN_RECORD_CHARS = 60


def _replay(loaded: LoadedConfig) -> int:
    from elt_dagster.engine.db import connect, target_database_url
    from elt_dagster.engine.replay import replay_rejects
    from elt_dagster.engine.state.history import record_version

    url = target_database_url(loaded.config.target)
    with connect(url) as conn:
        version, _ = record_version(conn, loaded)
    print(f"{loaded.name}: replaying the quarantine with config version {version.version} ({loaded.path})")
    report = replay_rejects(loaded, database_url=url)
    print(report.summary())
    if report.remaining:
        print(f"`elt-dagster rejects {loaded.name}` shows what is left and why")
    return 0


def _pipeline_argument(args: argparse.Namespace) -> str:
    """The PIPELINE of `rejects PIPELINE` or of `rejects replay PIPELINE`."""
    return args.replay_pipeline if args.pipeline == "replay" and args.replay_pipeline else args.pipeline


@without_env_secrets(_pipeline_argument)
def _rejects(args: argparse.Namespace) -> int:
    if args.pipeline == "replay" and args.replay_pipeline:
        return _replay(find_pipeline(args.replay_pipeline))
    if args.replay_pipeline:
        raise PipelineError(f"unexpected {args.replay_pipeline!r}: `rejects PIPELINE` or `rejects replay PIPELINE`")
    import psycopg
    from psycopg import sql

    from elt_dagster.engine.config import REJECTED_SUFFIX
    from elt_dagster.engine.db import connect, target_database_url
    from elt_dagster.engine.load.quarantine import kinds_query
    from elt_dagster.engine.load.tables import table_ident
    from elt_dagster.engine.redaction import mask_cells
    from elt_dagster.engine.report import text_table

    loaded = find_pipeline(args.pipeline)
    target = loaded.config.target
    where = sql.SQL("WHERE (%(run)s::text IS NULL OR run_id = %(run)s) AND reason ILIKE %(reason)s")
    values = {"run": args.run, "reason": f"%{args.reason or ''}%", "limit": args.limit}
    columns = sql.SQL(", ").join(sql.SQL(c if c != "raw_record" else "raw_record::text") for c in COLUMNS)
    with connect(target_database_url(target)) as conn:
        try:
            records = sql.SQL("({}) AS q ").format(kinds_query(conn, table_ident(target, REJECTED_SUFFIX)))
            total = conn.execute(sql.SQL("SELECT count(*) FROM ") + records + where, values).fetchone()[0]
            query = (
                sql.SQL("SELECT {} FROM ").format(columns) + records + where + sql.SQL(" ORDER BY id LIMIT %(limit)s")
            )
            rows = conn.execute(query, values).fetchall()
            kinds = _counts_by_kind(conn, records + where, values)
        except psycopg.errors.UndefinedTable:
            print(f"{qualified_name(target, REJECTED_SUFFIX)} does not exist yet: run the {loaded.name}_elt job")
            return 1
    if args.format == "json":
        records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
        for record in records:
            record["raw_record"] = json.loads(record["raw_record"]) if record["raw_record"] else None
        print(json.dumps(records, indent=2, default=str, ensure_ascii=False))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    else:
        print(f"{qualified_name(target, REJECTED_SUFFIX)}: {total} quarantined records match, {len(rows)} shown")
        if kinds:
            print(text_table(["reason", "records"], mask_cells(kinds, loaded.env_secrets)))
        shown = [_shown(row) for row in mask_cells(rows, loaded.env_secrets)]  # masked before cut
        if shown:
            print(text_table(SHOWN_COLUMNS, shown))
    return 0


def _counts_by_kind(conn: psycopg.Connection, records: Composable, values: dict) -> list[list]:
    """(reason kind with its column, records) of the matching records, the most frequent first."""
    from psycopg import sql

    from elt_dagster.engine.load.quarantine import kind_label

    query = sql.SQL("SELECT column_name, reason_kind, old_reason, count(*) FROM ") + records
    rows = conn.execute(query + sql.SQL(" GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT %(limit)s"), values)
    return [[kind_label(column, kind, old), n] for column, kind, old, n in rows]


def _shown(row: tuple) -> list:
    """A record as the table shows it: its kind left out (its reason holds it), its whole record cut."""
    record = dict(zip(COLUMNS, row, strict=True))
    record["raw_record"] = _cut(record["raw_record"])
    return [record[name] for name in SHOWN_COLUMNS]


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= SHOWN_RECORD_CHARS:
        return text
    return text[: SHOWN_RECORD_CHARS - 1] + "…"


def add_rejects_command(commands: argparse._SubParsersAction) -> None:
    """The `rejects` command."""
    rejects = commands.add_parser(
        "rejects",
        help="a pipeline's quarantined records and why; `rejects replay PIPELINE` validates them again with the "
        "current YAML and loads those that pass (name or YAML file)",
        usage="elt-dagster rejects [replay] PIPELINE [options]",
    )
    rejects.add_argument("pipeline", metavar="PIPELINE")
    rejects.add_argument("replay_pipeline", nargs="?", help=argparse.SUPPRESS)
    rejects.add_argument("--run", metavar="RUN_ID", help="only the records one run quarantined")
    rejects.add_argument("--reason", metavar="TEXT", help="only reasons containing TEXT (case-insensitive)")
    rejects.add_argument("--limit", type=int, default=50, help="how many, oldest first (default 50)")
    rejects.add_argument("--format", choices=["table", "csv", "json"], default="table")
    rejects.set_defaults(func=_rejects)
