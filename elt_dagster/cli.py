"""`elt-dagster`: check a pipeline YAML, or preview what its target table holds."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .engine.config import ConfigError, PipelineError, load_config


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.configs:
        try:
            loaded = load_config(path)
        except ConfigError as exc:
            failed += 1
            print(f"INVALID {exc.path}", file=sys.stderr)
            for problem in exc.problems:
                print(f"  - {problem}", file=sys.stderr)
            continue
        config = loaded.config
        target = config.target
        columns = len(config.schema_.columns) if config.schema_ else 0
        print(
            f"OK      {loaded.path}: pipeline {loaded.name!r} -> {target.db_schema}.{target.table} "
            f"({target.mode}), {len(config.sources)} source(s), {columns} declared column(s); job {loaded.name}_elt"
        )
    return 1 if failed else 0


def _preview(args: argparse.Namespace) -> int:
    from .engine.config import REJECTED_SUFFIX
    from .engine.db import connect, redact_url, target_database_url
    from .engine.report import text_table
    from .engine.tables import count_rows, preview, table_ident

    loaded = load_config(args.config)
    target = loaded.config.target
    url = target_database_url(target)
    import psycopg
    from psycopg import sql

    with connect(url) as conn:
        try:
            names, rows = preview(conn, target, args.rows)
            total = count_rows(conn, target)
            rejects = sql.SQL("SELECT count(*) FROM {}").format(table_ident(target, REJECTED_SUFFIX))
            rejected = conn.execute(rejects).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            where = f"{target.db_schema}.{target.table}"
            print(f"{where} does not exist yet in {redact_url(url)}: run the {loaded.name}_elt job first")
            return 1
    print(f"{target.db_schema}.{target.table}: {total} rows ({redact_url(url)})")
    if rejected:
        print(f"{target.db_schema}.{target.table}{REJECTED_SUFFIX}: {rejected} quarantined records, with their reasons")
    if rows:
        shown = [i for i, n in enumerate(names) if n not in ("_elt_row_hash", "_elt_run_id")]
        print(text_table([names[i] for i in shown], [[row[i] for i in shown] for row in rows]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elt-dagster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check pipeline YAML files (exit 1 if any is invalid)")
    check.add_argument("configs", nargs="+", metavar="CONFIG")
    check.set_defaults(func=_validate)
    show = commands.add_parser("preview", help="row count and first rows of a pipeline's target table")
    show.add_argument("config", metavar="CONFIG")
    show.add_argument("--rows", type=int, default=10, help="how many rows to show (default 10)")
    show.set_defaults(func=_preview)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
