"""`elt-dagster`: check pipeline YAML files, preview target tables, and manage config versions."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from elt_dagster.cli_db import INSTANCE_URL_ENV, add_db_commands, instance_url
from elt_dagster.cli_rejects import add_rejects_command
from elt_dagster.engine.config import ConfigError, LoadedConfig, load_config
from elt_dagster.engine.errors import PipelineError

if TYPE_CHECKING:
    from dagster import EventLogEntry


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
    from elt_dagster.engine.config import REJECTED_SUFFIX
    from elt_dagster.engine.db import connect, target_database_url
    from elt_dagster.engine.load.tables import count_rows, preview, table_ident
    from elt_dagster.engine.redaction import redact_url
    from elt_dagster.engine.report import text_table

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
        print(
            f"{target.db_schema}.{target.table}{REJECTED_SUFFIX}: {rejected} quarantined records "
            f"(`elt-dagster rejects {loaded.name}` shows them and why)"
        )
    if rows:
        shown = [i for i, n in enumerate(names) if n not in ("_elt_row_hash", "_elt_run_id")]
        print(text_table([names[i] for i in shown], [[row[i] for i in shown] for row in rows]))
    return 0


def _history_urls(pipeline: str | None) -> list[str]:
    """The databases that may hold config history: every valid config's target, and the default one."""
    from elt_dagster.engine.config import config_dir, discover_configs
    from elt_dagster.engine.db import DATABASE_URL_ENV, embedded_database_url

    urls = []
    for path in discover_configs(config_dir()):
        try:
            loaded = load_config(path)
        except ConfigError:
            continue
        if pipeline in (None, loaded.name):
            urls.append(target_url(loaded))
    if not urls:
        urls.append(os.environ.get(DATABASE_URL_ENV) or embedded_database_url())
    return list(dict.fromkeys(urls))


def target_url(loaded: LoadedConfig) -> str:
    from elt_dagster.engine.db import target_database_url

    return target_database_url(loaded.config.target)


def _config_upload(args: argparse.Namespace) -> int:
    from elt_dagster.engine.config import config_dir, parse_config, read_config_text
    from elt_dagster.engine.db import connect
    from elt_dagster.engine.state.history import record_version

    source = Path(args.file)
    try:
        text = read_config_text(source)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    folder = config_dir()
    destination = folder / (args.as_name or source.name)
    try:  # validated as it will be once in place: relative paths are taken from the config folder
        loaded = parse_config(text, destination)
    except ConfigError as exc:
        print(f"INVALID {source} (as {destination}); nothing stored", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    with connect(target_url(loaded)) as conn:
        version, is_new = record_version(conn, loaded)
    folder.mkdir(parents=True, exist_ok=True)
    destination.write_text(text, encoding="utf-8")
    state = "stored as" if is_new else "unchanged: already"
    print(f"{destination}: pipeline {loaded.name!r} {state} version {version.version} ({version.content_hash[:12]})")
    return 0


def _config_history(args: argparse.Namespace) -> int:
    from elt_dagster.engine.db import connect
    from elt_dagster.engine.state.history import history

    versions = []
    for url in _history_urls(args.pipeline):
        with connect(url) as conn:
            versions += history(conn, args.pipeline)
    if not versions:
        print("no config versions recorded yet" + (f" for {args.pipeline}" if args.pipeline else ""))
        return 0 if not args.pipeline else 1
    for v in sorted({(v.pipeline, v.version): v for v in versions}.values(), key=lambda v: (v.pipeline, v.version)):
        excerpt = " ".join(v.yaml.split())[:100]
        print(f"{v.id:>5}  {v.pipeline}  v{v.version}  {v.created_at:%Y-%m-%d %H:%M:%S %Z}  {excerpt}")
    return 0


def _config_show(args: argparse.Namespace) -> int:
    from elt_dagster.engine.db import connect
    from elt_dagster.engine.state.history import version_of

    for url in _history_urls(args.pipeline):
        with connect(url) as conn:
            found = version_of(conn, args.pipeline, args.version)
        if found:
            print(
                f"# {found.pipeline} version {found.version}, {found.created_at:%Y-%m-%d %H:%M:%S %Z}, from {found.source_path}"
            )
            print(found.yaml, end="" if found.yaml.endswith("\n") else "\n")
            return 0
    which = f"version {args.version} of " if args.version else ""
    print(f"error: no {which}config recorded for pipeline {args.pipeline!r}", file=sys.stderr)
    return 1


def _check(args: argparse.Namespace) -> int:
    import tempfile

    from elt_dagster.engine.dry_run import check_pipeline
    from elt_dagster.engine.report import text_table
    from elt_dagster.engine.transform.validate import describe_reject

    loaded = load_config(args.config)
    with tempfile.TemporaryDirectory(prefix="elt-check-") as folder:
        report = check_pipeline(loaded, Path(folder), keep_rows=args.rows)
    print(
        f"{loaded.name}: {len(report.files)} file(s), {report.rows_extracted} rows read, {report.rows_valid} valid, "
        f"{report.rejected} would be quarantined (nothing was loaded)"
    )
    for reject in report.first_rejects:
        print(f"  rejected: {describe_reject(reject)}")
    if report.first_rows:
        names = list(report.first_rows[0])
        print(text_table(names, [[row[n] for n in names] for row in report.first_rows]))
    return 0


def failure_reason(event: EventLogEntry) -> str | None:
    """Why a step failed, in one line: the `Failure`'s description, else the innermost error's message."""
    dagster_event = event.dagster_event
    if dagster_event is None or not dagster_event.is_step_failure:
        return None
    data = dagster_event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return " ".join(data.user_failure_data.description.split())
    error = data.error
    while error is not None and error.cause is not None:
        error = error.cause
    return " ".join(error.message.split()) if error is not None else None


def _logs(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance, RunsFilter

    home = os.environ.get("DAGSTER_HOME") or str(Path(".elt/dagster").resolve())
    if not Path(home).is_dir():
        print(f"error: no Dagster instance at {home} (set DAGSTER_HOME, or run a job first)", file=sys.stderr)
        return 1
    os.environ["DAGSTER_HOME"] = home
    settings = Path(home) / "dagster.yaml"
    if INSTANCE_URL_ENV not in os.environ and settings.exists() and INSTANCE_URL_ENV in settings.read_text():
        os.environ[INSTANCE_URL_ENV] = instance_url()  # the repository's dagster.yaml: storage in PostgreSQL
    instance = DagsterInstance.get()
    runs_filter = RunsFilter(job_name=f"{args.pipeline}_elt") if args.pipeline else None
    runs = instance.get_runs(filters=runs_filter, limit=1)
    if not runs:
        print("no runs yet" + (f" of {args.pipeline}_elt" if args.pipeline else ""))
        return 1
    run = runs[0]
    print(f"# run {run.run_id} of {run.job_name}: {run.status.value}")
    lines = []
    for event in instance.all_logs(run.run_id):
        if event.level < logging.INFO and not args.debug:
            continue
        message = event.message or (event.dagster_event.message if event.dagster_event else "") or ""
        if reason := failure_reason(event):
            message = f"{message} Why: {reason}"
        when = datetime.fromtimestamp(event.timestamp).strftime("%Y-%m-%d %H:%M:%S")
        step = f" [{event.step_key}]" if event.step_key else ""
        lines.append(f"{when} {logging.getLevelName(event.level):<7}{step} {message}".rstrip())
    print("\n".join(lines[-args.lines :]))
    return 0


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
    show.add_argument("config", metavar="CONFIG")
    show.add_argument("--rows", type=int, default=10, help="how many rows to show (default 10)")
    show.set_defaults(func=_preview)
    dry = commands.add_parser("check", help="extract and validate every source without loading: counts, rejects, rows")
    dry.add_argument("config", metavar="CONFIG")
    dry.add_argument("--rows", type=int, default=5, help="how many standardised rows to show (default 5)")
    dry.set_defaults(func=_check)
    logs = commands.add_parser("logs", help="the latest run's log lines, from the Dagster instance (DAGSTER_HOME)")
    logs.add_argument("pipeline", nargs="?", metavar="PIPELINE")
    logs.add_argument("--lines", type=int, default=100, help="how many of the last lines (default 100)")
    logs.add_argument("--debug", action="store_true", help="include Dagster's DEBUG events (steps, outputs, resources)")
    logs.set_defaults(func=_logs)
    config = commands.add_parser("config", help="config versions: upload, history, show").add_subparsers(
        dest="config_command", required=True
    )
    upload = config.add_parser(
        "upload", help="validate a YAML, store it as the next version, place it in the config folder"
    )
    upload.add_argument("file", metavar="FILE")
    upload.add_argument("--as", dest="as_name", metavar="NAME.yaml", help="file name in the config folder")
    upload.set_defaults(func=_config_upload)
    listing = config.add_parser(
        "history", help="every recorded version: id, pipeline, version, time, first 100 characters"
    )
    listing.add_argument("pipeline", nargs="?", metavar="PIPELINE")
    listing.set_defaults(func=_config_history)
    detail = config.add_parser("show", help="the full (redacted) YAML of a version, the latest by default")
    detail.add_argument("pipeline", metavar="PIPELINE")
    detail.add_argument("--version", type=int, help="version number (default: the latest)")
    detail.set_defaults(func=_config_show)
    add_db_commands(commands)
    add_rejects_command(commands)
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
