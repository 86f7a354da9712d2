"""What a run tells the UI: log lines, and the metadata of the extracted, validated, table and quarantine assets.

The config's values from the environment (`LoadedConfig.env_secrets`) are masked in all of it: a local file's path
and an API's URL are masked where they are made (`_elt_source`), and the rest here (rows loaded before, messages).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import psycopg
from dagster import AssetExecutionContext, MetadataValue, TableColumn, TableRecord, TableSchema
from psycopg.conninfo import conninfo_to_dict

from elt_dagster.engine.config import REJECTED_SUFFIX, LoadedConfig, Target, column_descriptions
from elt_dagster.engine.db import ConnectionLost
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load.quarantine import LATEST_COLUMNS, QuarantineSummary
from elt_dagster.engine.names import qualified_name
from elt_dagster.engine.redaction import mask_cells, mask_values, redact_url
from elt_dagster.engine.report import markdown_table
from elt_dagster.engine.run import RunReport
from elt_dagster.engine.transform.validate import describe_reject

if TYPE_CHECKING:
    from elt_dagster.engine.sources.files.extract import FileReport


LISTED_IN_LOG = 10
"""Files named in one log line; the extracted asset's `files` table lists up to `LISTED_IN_METADATA`. One line per
file made a run of 1,000 files write 1,000 events (each a write to Dagster's storage, 5-30 ms)."""
LISTED_IN_METADATA = 1000


def _listing(items: list[str], where: str = "") -> str:
    """The first `LISTED_IN_LOG` of `items`, and how many more (and `where` they are listed)."""
    more = len(items) - LISTED_IN_LOG
    return ", ".join(items[:LISTED_IN_LOG]) + (f" and {more} more{where}" if more > 0 else "")


def _described(file: FileReport) -> str:
    return f"{file.path} ({file.rows} rows" + (f", {file.malformed} malformed)" if file.malformed else ")")


@contextmanager
def masked_errors(load: Callable[[], LoadedConfig]) -> Iterator[None]:
    """A PipelineError raised again with the values from the environment of the config `load` reads masked (read
    only then, so that the step's start is covered: a connection refused for a `${DB_USER}`). A lost connection
    stays one, so the step is still retried."""
    try:
        yield
    except PipelineError as exc:
        try:
            secrets = load().env_secrets
        except PipelineError:  # the YAML is wrong now: its own error masks its values
            raise exc from None
        shown = mask_values(str(exc), secrets)
        if shown == str(exc):
            raise
        raise (ConnectionLost if isinstance(exc, ConnectionLost) else PipelineError)(shown) from None


class MaskedLog:
    """`context.log` with `secrets` masked in every line."""

    def __init__(self, context: AssetExecutionContext, secrets: frozenset[str]):
        self.log, self.secrets = context.log, secrets

    def info(self, text: str) -> None:
        self.log.info(mask_values(text, self.secrets))

    def warning(self, text: str) -> None:
        self.log.warning(mask_values(text, self.secrets))


def log_report(context: AssetExecutionContext, report: RunReport, secrets: frozenset[str] = frozenset()) -> None:
    """The run's story in the run log: a few lines whatever the number of files, `secrets` masked."""
    log = MaskedLog(context, secrets)
    if report.skipped_files:
        log.warning(
            f"skipped {len(report.skipped_files)} files, not csv/txt/tsv/json/jsonl/ndjson (optionally .gz): "
            + _listing(report.skipped_files)
        )
    if report.table_missing:
        log.warning("the table was loaded before and is gone (dropped?): every source is read again")
    if report.unplaced_files:
        log.warning(
            f"{len(report.unplaced_files)} files belong to no partition, not loaded: " + _listing(report.unplaced_files)
        )
    if report.partition:
        log.info(f"partition {report.partition}: its rows replaced by its files' ({report.deleted} rows removed)")
    if report.unchanged_files:
        log.info(f"{report.unchanged_files} files unchanged since they were loaded: not read")
    _log_api_sources(log, report)
    if report.files:
        described = [_described(file) for file in report.files]
        log.info(f"read {len(described)} files: " + _listing(described, " (the extracted asset's files table)"))
    log.info(_read_line(report))
    for reject in report.first_rejects:
        log.warning(f"rejected: {describe_reject(reject)}")
    if not report.files and report.partition is None:
        log.info(
            f"nothing new to load ({report.seconds:.2f} s); the table has {report.row_count} rows. The assets keep "
            "their last load's figures and checks"
        )
        return
    log.info(
        f"inserted {report.inserted}, updated {report.updated}, skipped {report.duplicates} duplicates and "
        f"{report.superseded} superseded (replaced by a later row of their key), quarantined {report.rejected} "
        f"({report.strategy} load, {report.seconds:.2f} s); table has {report.row_count} rows"
    )
    if report.deleted and not report.partition:
        log.info(
            f"deleted {report.deleted} keys ({report.flagged} flagged by their row, the others absent from the snapshot)"
        )
    if report.strategy_reason:
        log.info(f"load strategy {report.strategy}: {report.strategy_reason}")
    if report.added_columns:
        log.info(f"added columns to the table: {', '.join(report.added_columns)}")


def _log_api_sources(log: MaskedLog, report: RunReport) -> None:
    """A line per API source: pages and records fetched, and why paging stopped (a warning where it was cut)."""
    cut = {
        "max_pages": "max_pages was reached: raise it if the API has more",
        "repeated_page": "the API sent a page it had sent already",
    }
    for api in report.api_sources:
        line = f"fetched {api['pages']} pages, {api['records']} records from {api['url']} (paging stopped: {api['stopped']})"
        if api["stopped"] in cut:
            log.warning(f"{line}: {cut[api['stopped']]}")
        else:
            log.info(line)


def _read_line(report: RunReport) -> str:
    """`validated N rows read: V valid, Q quarantined`: read = valid + quarantined, malformed rows included."""
    malformed = f" ({report.malformed} malformed)" if report.malformed else ""
    return (
        f"validated {report.rows_read} rows read: {report.rows_valid} valid, {report.rejected} quarantined{malformed}"
    )


def extract_metadata(report: RunReport) -> dict:
    listed = report.files[:LISTED_IN_METADATA]
    return {
        "staging_path": MetadataValue.path(str(report.staging_path or "")),
        "files_read": len(report.files),
        "files": MetadataValue.table(
            [TableRecord({"path": f.path, "rows": f.rows, "malformed": f.malformed}) for f in listed],
            TableSchema([TableColumn("path"), TableColumn("rows", "int"), TableColumn("malformed", "int")]),
        ),
        "files_unchanged": report.unchanged_files,
        "files_skipped": len(report.skipped_files),
        "unplaced_files": MetadataValue.json(report.unplaced_files[:LISTED_IN_METADATA]),
        "rows_read": report.rows_read,
        "rows_extracted": report.rows_extracted,
        "malformed_rows": report.malformed,
        "api_sources": MetadataValue.json(report.api_sources),
    }


def validate_metadata(report: RunReport, secrets: frozenset[str] = frozenset()) -> dict:
    first_rejects = "\n".join(f"- {describe_reject(r)}" for r in report.first_rejects) or "none"
    return {
        "rows_read": report.rows_read,
        "rows_valid": report.rows_valid,
        "rows_rejected": report.rejected,
        "rejects_path": MetadataValue.path(str(report.rejects_path or "")),
        # a list of pairs: JSON metadata does not keep the key order of a mapping
        "column_types": MetadataValue.json([[n, t] for n, t in report.column_types.items()]),
        "first_rejects": MetadataValue.md(mask_values(first_rejects, secrets)),
    }


def qualified_table_name(url: str, target: Target, suffix: str = "") -> str:
    """`<database>.<schema>.<table><suffix>`, Dagster's `dagster/table_name`."""
    try:
        database = conninfo_to_dict(url).get("dbname") or "postgres"
    except psycopg.ProgrammingError:
        database = "postgres"
    return f"{database}.{qualified_name(target, suffix)}"


def table_metadata(
    loaded: LoadedConfig,
    report: RunReport,
    url: str,
    preview: tuple[list[str], list[tuple]],
    quarantined: QuarantineSummary,
) -> dict:
    """The table asset's metadata: the table's own figures (rows, quarantined in all) beside this run's counts."""
    target = loaded.config.target
    names, rows = preview
    metadata = {
        "dagster/row_count": report.row_count,
        "dagster/table_name": qualified_table_name(url, target),
        "quarantined_total": quarantined.total,
        "inserted": report.inserted,
        "updated": report.updated,
        "duplicates": report.duplicates,
        "superseded": report.superseded,
        "deleting_rows": report.flagged,
        "rejected": report.rejected,
        "added_columns": MetadataValue.json(list(report.added_columns)),
        "load_strategy": report.strategy,
        "load_strategy_reason": report.strategy_reason,
        "deleted": report.deleted,
        **({"partition_rows": report.partition_rows} if report.partition else {}),
        "database": mask_values(redact_url(url), loaded.env_secrets),
        "config_hash": loaded.content_hash,
        "duration_seconds": round(report.seconds, 3),
    }
    if report.table_schema:
        descriptions = column_descriptions(loaded)
        metadata["dagster/column_schema"] = TableSchema(
            columns=[TableColumn(n, t, description=descriptions.get(n)) for n, t in report.table_schema.items()]
        )
        metadata["preview"] = preview_markdown(loaded, names, rows)
    return metadata


def preview_markdown(loaded: LoadedConfig, names: list[str], rows: list[tuple]) -> MetadataValue:
    """A table's first rows as markdown, the config's values from the environment masked (rows loaded before they
    were masked in `_elt_source` may hold them)."""
    return MetadataValue.md(markdown_table(names, mask_cells(rows, loaded.env_secrets)))


def quarantine_metadata(loaded: LoadedConfig, url: str, summary: QuarantineSummary) -> dict:
    """The quarantine asset's metadata: its total, this run's additions, counts by column and reason, the latest."""
    target = loaded.config.target
    latest = mask_cells([[_record_text(row[0]), *row[1:]] for row in summary.latest], loaded.env_secrets)
    return {
        "dagster/row_count": summary.total,
        "dagster/table_name": qualified_table_name(url, target, REJECTED_SUFFIX),
        "added_by_this_run": summary.added_by_run,
        "by_column": MetadataValue.md(
            markdown_table(["column", "records"], summary.by_column) if summary.total else "none"
        ),
        "by_reason": MetadataValue.md(
            markdown_table(["reason", "records", "e.g. value"], mask_cells(summary.by_reason, loaded.env_secrets))
            if summary.total
            else "none"
        ),
        "latest": MetadataValue.md(markdown_table(LATEST_COLUMNS, latest) if latest else "none"),
        "how_to_fix": MetadataValue.md(
            f"`elt-dagster rejects {loaded.name}` lists every record and why. After fixing the YAML, run the "
            f"`{loaded.name}_replay_rejects` job (or `elt-dagster rejects replay {loaded.name}`): records that pass "
            "now are loaded and leave quarantine."
        ),
    }


def _record_text(raw: str | None) -> str:
    """A quarantined record for a table cell: `key=value` pairs rather than JSON's quotes and braces."""
    try:
        record = json.loads(raw) if raw else None
    except ValueError:
        return raw or ""
    if isinstance(record, dict):
        return ", ".join(f"{k}={'' if v is None else v}" for k, v in record.items())
    return raw or ""
