"""The asset factory: one YAML file becomes three assets, a job and a resource.

    <name>/extracted   every new or changed source file -> this run's staging CSV
    <name>/validated   rows typed and standardised; rejects set aside with a reason
    <name>/<table>     the PostgreSQL table, loaded with COPY and row-hash dedup

The three are materialised by one step (a multi-asset), because the engine streams: it reads, validates and
loads batch by batch, with the database working in parallel. No data passes through an IO manager.
"""

import re

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetSpec,
    Config,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    TableColumn,
    TableSchema,
    define_asset_job,
    in_process_executor,
    job,
    multi_asset,
    op,
)
from pydantic import Field

from elt_dagster.engine.config.models import LoadedConfig, LocalSource, PipelineError
from elt_dagster.engine.db import connect, redact_url
from elt_dagster.engine.load.tables import count_rows, preview, table_columns
from elt_dagster.engine.report import markdown_table
from elt_dagster.engine.run import RunReport, run_pipeline
from elt_dagster.engine.transform.validate import describe_reject

from .automation import (
    BOOKKEEPING_RESOURCE,
    build_schedule,
    build_source_sensor,
    config_history_key,
    version_materialization,
)
from .checks import check_results, check_specs
from .resources import BookkeepingResource, PipelineConfigResource, PostgresResource, config_tags, qualified_table

POSTGRES_RESOURCE = "postgres"
PREVIEW_ROWS = 10
FULL_REFRESH_TAG = "elt/full_refresh"


class RunOptions(Config):
    """Run configuration of an ELT job."""

    full_refresh: bool = Field(
        default=False,
        description="Read every source file again, not only new or changed ones (also: tag elt/full_refresh=true).",
    )


def _key_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _describe(loaded: LoadedConfig) -> str:
    config = loaded.config
    sources = ", ".join(
        f"`{s.resolved_path(loaded.base_dir)}` ({s.pattern})"
        if isinstance(s, LocalSource)
        else f"API `{s.display_url()}`"
        for s in config.sources
    )
    target = config.target
    key = f", primary key {target.primary_key}" if target.primary_key else ""
    return (
        f"Pipeline **{loaded.name}** from `{loaded.path}`.\n\nSources: {sources}\n\n"
        f"Target: `{target.db_schema}.{target.table}`, mode `{target.mode}`{key}"
    )


def build_pipeline(loaded: LoadedConfig) -> Definitions:
    """Assets, job and resource for one pipeline YAML."""
    name = loaded.name
    config_key = f"{name}_config"
    target = loaded.config.target
    keys = {
        "extracted": AssetKey([name, "extracted"]),
        "validated": AssetKey([name, "validated"]),
        "table": AssetKey([name, _key_part(target.table)]),
    }
    description = _describe(loaded)
    specs = [
        AssetSpec(
            keys["extracted"],
            group_name=name,
            kinds={"python", "csv"},
            description="New or changed source files, read into this run's staging CSV.\n\n" + description,
        ),
        AssetSpec(
            keys["validated"],
            deps=[keys["extracted"]],
            group_name=name,
            kinds={"python"},
            description="Rows typed and standardised by the schema; rejects set aside with a reason.",
        ),
        AssetSpec(
            keys["table"],
            deps=[keys["validated"]],
            group_name=name,
            kinds={"postgres", "table"},
            description=f"The PostgreSQL table `{target.db_schema}.{target.table}` ({target.mode}), loaded with COPY and row-hash dedup.",
        ),
    ]

    @multi_asset(
        name=f"{name}_elt_step",
        specs=specs,
        check_specs=check_specs(keys["table"]),
        required_resource_keys={config_key, POSTGRES_RESOURCE, BOOKKEEPING_RESOURCE},
    )
    def elt(context: AssetExecutionContext, config: RunOptions):
        pipeline: PipelineConfigResource = getattr(context.resources, config_key)
        postgres: PostgresResource = getattr(context.resources, POSTGRES_RESOURCE)
        bookkeeping: BookkeepingResource = getattr(context.resources, BOOKKEEPING_RESOURCE)
        full_refresh = config.full_refresh or context.run.tags.get(FULL_REFRESH_TAG, "").lower() in ("1", "true", "yes")
        try:
            current = pipeline.load()
            version, is_new = bookkeeping.record_config_version(current)
            context.instance.add_run_tags(context.run.run_id, config_tags(version))
            if is_new:
                context.log_event(version_materialization(version))
            context.log.info(f"{name}: config version {version.version} ({version.content_hash[:12]})")
            url = postgres.url_for(current.config.target)
            context.log.info(f"{name}: loading into {redact_url(url)}" + (" (full refresh)" if full_refresh else ""))
            report = run_pipeline(current, context.run.run_id, url, full_refresh=full_refresh)
            with connect(url) as conn:
                names, rows = preview(conn, current.config.target, PREVIEW_ROWS) if report.table_schema else ([], [])
        except PipelineError as exc:
            raise Failure(description=str(exc), metadata={"error": str(exc)}) from None
        _log(context, report)
        yield MaterializeResult(asset_key=keys["extracted"], metadata=_extract_metadata(report))
        yield MaterializeResult(asset_key=keys["validated"], metadata=_validate_metadata(report))
        metadata = _table_metadata(current, report, url, names, rows)
        metadata["config_version"] = version.version
        yield MaterializeResult(asset_key=keys["table"], metadata=metadata)
        yield from check_results(current, report, keys["table"])

    job = define_asset_job(
        f"{name}_elt",
        selection=list(keys.values()),
        executor_def=in_process_executor,
        description=f"Extract, validate and load the {name} pipeline ({loaded.path.name}).",
    )
    history = AssetSpec(
        config_history_key(name),
        group_name=name,
        kinds={"yaml"},
        description=f"Every version of `{loaded.path.name}` (secrets redacted), recorded by the config_history_sensor "
        "and at each run; each materialisation is one version.",
    )
    schedules = [s for s in [build_schedule(loaded, job)] if s is not None]
    return Definitions(
        assets=[elt, history],
        jobs=[job, build_preview_job(name, config_key, keys["table"])],
        sensors=[build_source_sensor(loaded, job, config_key)],
        schedules=schedules,
        resources={
            config_key: PipelineConfigResource(
                config_path=str(loaded.path), pipeline_name=name, target_table=qualified_table(loaded)
            )
        },
    )


def build_preview_job(name: str, config_key: str, table_key: AssetKey):
    """`<name>_preview`: the table's row count and first rows, as an observation of the table asset, without loading."""

    @op(name=f"{name}_preview_step", required_resource_keys={config_key, POSTGRES_RESOURCE})
    def preview_step(context: OpExecutionContext) -> None:
        pipeline: PipelineConfigResource = getattr(context.resources, config_key)
        postgres: PostgresResource = getattr(context.resources, POSTGRES_RESOURCE)
        try:
            current = pipeline.load()
            target = current.config.target
            with connect(postgres.url_for(target)) as conn:
                if not table_columns(conn, target):
                    context.log.warning(f"{target.db_schema}.{target.table} does not exist yet: run {name}_elt first")
                    return
                names, rows = preview(conn, target, PREVIEW_ROWS)
                total = count_rows(conn, target)
        except PipelineError as exc:
            raise Failure(description=str(exc)) from None
        context.log.info(f"{target.db_schema}.{target.table}: {total} rows")
        context.log_event(
            AssetObservation(
                asset_key=table_key,
                metadata={"dagster/row_count": total, "preview": MetadataValue.md(markdown_table(names, rows))},
            )
        )

    @job(
        name=f"{name}_preview",
        executor_def=in_process_executor,
        description=f"Row count and first rows of {name}'s table, without loading.",
    )
    def preview_job() -> None:
        preview_step()

    return preview_job


def _log(context: AssetExecutionContext, report: RunReport) -> None:
    for path in report.skipped_files:
        context.log.warning(f"skipped {path}: not a csv/txt/tsv/json/jsonl/ndjson file (optionally .gz)")
    if report.unchanged_files:
        context.log.info(f"{report.unchanged_files} files unchanged since they were loaded: not read")
    for file in report.files:
        context.log.info(
            f"read {file.path}: {file.rows} rows" + (f", {file.malformed} malformed" if file.malformed else "")
        )
    context.log.info(f"validated {report.rows_extracted} rows: {report.rows_valid} valid, {report.invalid} rejected")
    for reject in report.first_rejects:
        context.log.warning(f"rejected: {describe_reject(reject)}")
    if not report.files:
        context.log.info(f"nothing new to load ({report.seconds:.2f} s); table has {report.row_count} rows")
        return
    context.log.info(
        f"inserted {report.inserted}, updated {report.updated}, skipped {report.duplicates} duplicates, "
        f"quarantined {report.rejected} ({report.strategy} load, {report.seconds:.2f} s); table has {report.row_count} rows"
    )
    if report.added_columns:
        context.log.info(f"added columns to the table: {', '.join(report.added_columns)}")


def _extract_metadata(report: RunReport) -> dict:
    return {
        "staging_path": MetadataValue.path(str(report.staging_path or "")),
        "files_read": len(report.files),
        "files_unchanged": report.unchanged_files,
        "files_skipped": len(report.skipped_files),
        "rows_extracted": report.rows_extracted,
        "malformed_rows": report.malformed,
    }


def _validate_metadata(report: RunReport) -> dict:
    return {
        "rows_valid": report.rows_valid,
        "rows_rejected": report.rejected,
        "rejects_path": MetadataValue.path(str(report.rejects_path or "")),
        # a list of pairs: JSON metadata does not keep the key order of a mapping
        "column_types": MetadataValue.json([[n, t] for n, t in report.column_types.items()]),
        "first_rejects": MetadataValue.md("\n".join(f"- {describe_reject(r)}" for r in report.first_rejects) or "none"),
    }


def _table_metadata(loaded: LoadedConfig, report: RunReport, url: str, names: list[str], rows: list[tuple]) -> dict:
    target = loaded.config.target
    metadata = {
        "dagster/row_count": report.row_count,
        "dagster/table_name": f"{target.db_schema}.{target.table}",
        "inserted": report.inserted,
        "updated": report.updated,
        "duplicates": report.duplicates,
        "rejected": report.rejected,
        "added_columns": MetadataValue.json(list(report.added_columns)),
        "load_strategy": report.strategy,
        "database": redact_url(url),
        "config_hash": loaded.content_hash,
        "duration_seconds": round(report.seconds, 3),
    }
    if report.table_schema:
        metadata["dagster/column_schema"] = TableSchema(
            columns=[TableColumn(n, t) for n, t in report.table_schema.items()]
        )
        metadata["preview"] = MetadataValue.md(markdown_table(names, rows))
    return metadata
