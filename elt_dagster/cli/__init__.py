"""`elt-dagster`: check pipeline YAML files, preview target tables, and manage config versions.

A command that takes a PIPELINE accepts its name (among the config folder's YAML files) or its YAML file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from elt_dagster.cli.config import add_config_commands
from elt_dagster.cli.db import add_db_commands
from elt_dagster.cli.pipelines import find_pipeline
from elt_dagster.cli.rejects import add_rejects_command
from elt_dagster.cli.runs import add_runs_command, show_logs
from elt_dagster.cli.secrets import without_env_secrets
from elt_dagster.engine.config import ConfigError, LoadedConfig, load_config
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.names import qualified_name


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
            f"OK      {loaded.path}: pipeline {loaded.name!r} -> {qualified_name(target)} "
            f"({target.mode}), {len(config.sources)} source(s), {columns} declared column(s); job {loaded.name}_elt"
        )
    return 1 if failed else 0


@without_env_secrets(lambda args: args.config)
def _preview(args: argparse.Namespace) -> int:
    from elt_dagster.engine.config import REJECTED_SUFFIX
    from elt_dagster.engine.db import connect, target_database_url
    from elt_dagster.engine.preview import preview_table
    from elt_dagster.engine.redaction import mask_cells, redact_url
    from elt_dagster.engine.report import text_table

    loaded = find_pipeline(args.config)
    target = loaded.config.target
    url = target_database_url(target)
    with connect(url) as conn:
        shown = preview_table(conn, target, args.rows)
    if shown is None:
        print(f"{qualified_name(target)} does not exist yet in {redact_url(url)}: run the {loaded.name}_elt job first")
        return 1
    print(f"{qualified_name(target)}: {shown.total} rows ({redact_url(url)})")
    if shown.rejected:
        print(
            f"{qualified_name(target, REJECTED_SUFFIX)}: {shown.rejected} quarantined records "
            f"(`elt-dagster rejects {loaded.name}` shows them and why; after a fix in the YAML, "
            f"`elt-dagster rejects replay {loaded.name}` loads those that pass)"
        )
    if shown.rows:
        shown = shown.without_bookkeeping()
        print(text_table(shown.names, mask_cells(shown.rows, loaded.env_secrets)))  # masked before cells are cut
    return 0


@without_env_secrets(lambda args: args.config)
def _check(args: argparse.Namespace) -> int:
    import tempfile

    from elt_dagster.engine.dry_run import check_pipeline
    from elt_dagster.engine.redaction import mask_cells
    from elt_dagster.engine.report import text_table
    from elt_dagster.engine.transform.validate import describe_reject

    loaded = find_pipeline(args.config)
    with tempfile.TemporaryDirectory(prefix="elt-check-") as folder:
        report = check_pipeline(loaded, Path(folder), keep_rows=args.rows)
    print(
        f"{loaded.name}: {len(report.files)} file(s), {report.rows_read} rows read, {report.rows_valid} valid, "
        f"{report.rejected} would be quarantined (nothing was loaded)"
    )
    for reject in report.first_rejects:
        print(f"  rejected: {describe_reject(reject)}")
    if report.first_rows:
        names = list(report.first_rows[0])
        print(text_table(names, mask_cells([[row[n] for n in names] for row in report.first_rows], loaded.env_secrets)))
    return _reject_limit_verdict(loaded, report.rows_valid, report.rejected)


def _reject_limit_verdict(loaded: LoadedConfig, valid: int, rejected: int) -> int:
    """1, saying so, when a run of what was checked would stop at `schema.max_rejected`; else 0."""
    from elt_dagster.engine.reject_limit import over_limit

    schema = loaded.config.schema_
    limit = schema.max_rejected if schema else None
    if limit is None or not over_limit(limit, rejected, valid):
        return 0
    print(f"a run would stop: {rejected} of {valid + rejected} records rejected, past schema.max_rejected: {limit}")
    return 1


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("elt-dagster")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elt-dagster", description=__doc__)
    parser.add_argument("--version", action="version", version=f"elt-dagster {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check pipeline YAML files (exit 1 if any is invalid)")
    check.add_argument("configs", nargs="+", metavar="CONFIG")
    check.set_defaults(func=_validate)
    show = commands.add_parser("preview", help="row count and first rows of a pipeline's target table")
    show.add_argument("config", metavar="PIPELINE", help="a pipeline's name or YAML file")
    show.add_argument("--rows", type=int, default=10, help="how many rows to show (default 10)")
    show.set_defaults(func=_preview)
    dry = commands.add_parser("check", help="extract and validate every source without loading: counts, rejects, rows")
    dry.add_argument("config", metavar="PIPELINE", help="a pipeline's name or YAML file")
    dry.add_argument("--rows", type=int, default=5, help="how many standardised rows to show (default 5)")
    dry.set_defaults(func=_check)
    logs = commands.add_parser("logs", help="the latest run's log lines, from the Dagster instance (DAGSTER_HOME)")
    logs.add_argument("pipeline", nargs="?", metavar="PIPELINE", help="a pipeline's name or YAML file")
    logs.add_argument("--lines", type=int, default=100, help="how many of the last lines (default 100)")
    logs.add_argument("--debug", action="store_true", help="include Dagster's DEBUG events (steps, outputs, resources)")
    logs.set_defaults(func=show_logs)
    add_config_commands(commands)
    add_db_commands(commands)
    add_rejects_command(commands)
    add_runs_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
