"""The asset factory: one YAML file becomes three assets, a job and two resources.

    <name>/extracted   every source file -> one staging CSV for the run
    <name>/validated   typed and standardised rows, rejects set aside
    <name>/<table>     the PostgreSQL table, loaded with COPY and row-hash dedup

Assets hand each other file paths through their materialisation metadata, never data through the
pickling IO manager.
"""

import re
import time
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
    define_asset_job,
    in_process_executor,
)

from ..engine.config import LoadedConfig, PipelineError
from ..engine.db import connect, redact_url
from ..engine.load import PG_TYPES, LoadResult, load, preview
from ..engine.pipeline import run_extract, run_validate
from ..engine.report import markdown_table
from ..engine.validate import ValidateResult
from .resources import PipelineConfigResource, PostgresResource

POSTGRES_RESOURCE = "postgres"
PREVIEW_ROWS = 10


def _key_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _upstream_metadata(context: AssetExecutionContext, key: AssetKey) -> dict:
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        raise Failure(f"{key.to_user_string()} has not been materialised yet: run the whole job")
    return {name: value.value for name, value in event.asset_materialization.metadata.items()}


def _describe(loaded: LoadedConfig) -> str:
    config = loaded.config
    sources = ", ".join(f"`{s.resolved_path(loaded.base_dir)}` ({s.pattern})" for s in config.sources)
    target = config.target
    return (
        f"Pipeline **{loaded.name}** from `{loaded.path}`.\n\nSources: {sources}\n\n"
        f"Target: `{target.db_schema}.{target.table}`, mode `{target.mode}`"
        + (f", primary key {target.primary_key}" if target.primary_key else "")
    )


def build_pipeline(loaded: LoadedConfig) -> Definitions:
    """Assets, job and resources for one pipeline YAML."""
    name = loaded.name
    config_key = f"{name}_config"
    target = loaded.config.target
    extracted_key = AssetKey([name, "extracted"])
    validated_key = AssetKey([name, "validated"])
    table_key = AssetKey([name, _key_part(target.table)])
    description = _describe(loaded)

    def pipeline_config(context: AssetExecutionContext) -> LoadedConfig:
        resource: PipelineConfigResource = getattr(context.resources, config_key)
        return resource.load()

    @asset(
        key=extracted_key,
        group_name=name,
        kinds={"python", "csv"},
        description="Every source file, read into one staging CSV.\n\n" + description,
        required_resource_keys={config_key},
    )
    def extracted(context: AssetExecutionContext) -> MaterializeResult:
        started = time.perf_counter()
        with _user_errors():
            current = pipeline_config(context)
            result = run_extract(current, context.run.run_id)
        for report in result.files:
            context.log.info(
                f"read {report.path}: {report.rows} rows"
                + (f", {report.malformed} malformed" if report.malformed else "")
            )
        for path in result.skipped_files:
            context.log.warning(f"skipped {path}: not a csv/txt/tsv/json/jsonl/ndjson file (optionally .gz)")
        context.log.info(f"extracted {result.rows} rows from {len(result.files)} files into {result.staging_path}")
        return MaterializeResult(
            metadata={
                "staging_path": MetadataValue.path(str(result.staging_path)),
                "rejects_path": MetadataValue.path(str(result.rejects_path)),
                "files_read": len(result.files),
                "rows_extracted": result.rows,
                "malformed_rows": result.malformed,
                "columns": MetadataValue.json(result.columns),
                "config_hash": current.content_hash,
                "duration_seconds": round(time.perf_counter() - started, 3),
            }
        )

    @asset(
        key=validated_key,
        deps=[extracted_key],
        group_name=name,
        kinds={"python", "arrow"},
        description="Rows typed and standardised by the schema; rejects set aside with a reason.",
        required_resource_keys={config_key},
    )
    def validated(context: AssetExecutionContext) -> MaterializeResult:
        started = time.perf_counter()
        upstream = _upstream_metadata(context, extracted_key)
        with _user_errors():
            current = pipeline_config(context)
            result = run_validate(current, Path(upstream["staging_path"]))
        context.log.info(f"validated {result.rows_in} rows: {result.rows_valid} valid, {result.rejected} rejected")
        for reason in result.first_reasons:
            context.log.warning(f"rejected: {reason}")
        return MaterializeResult(
            metadata={
                "validated_path": MetadataValue.path(str(result.validated_path)),
                "rejects_path": MetadataValue.path(str(result.rejects_path)),
                "extract_rejects_path": MetadataValue.path(str(upstream["rejects_path"])),
                # a list of pairs: JSON metadata does not keep the key order of a mapping
                "column_types": MetadataValue.json([[n, t] for n, t in result.column_types.items()]),
                "rows_valid": result.rows_valid,
                "rows_rejected": result.rejected,
                "first_rejects": MetadataValue.md("\n".join(f"- {r}" for r in result.first_reasons) or "none"),
                "duration_seconds": round(time.perf_counter() - started, 3),
            }
        )

    @asset(
        key=table_key,
        deps=[validated_key],
        group_name=name,
        kinds={"postgres", "table"},
        description=f"The PostgreSQL table `{target.db_schema}.{target.table}` ({target.mode}).",
        required_resource_keys={config_key, POSTGRES_RESOURCE},
    )
    def table(context: AssetExecutionContext) -> MaterializeResult:
        started = time.perf_counter()
        upstream = _upstream_metadata(context, validated_key)
        validated_result = ValidateResult(
            validated_path=Path(upstream["validated_path"]),
            rejects_path=Path(upstream["rejects_path"]),
            column_types={n: t for n, t in upstream["column_types"]},
        )
        postgres: PostgresResource = getattr(context.resources, POSTGRES_RESOURCE)
        with _user_errors():
            current = pipeline_config(context)
            url = postgres.url_for(current.config.target)
            reject_paths = [Path(upstream["extract_rejects_path"]), validated_result.rejects_path]
            with connect(url) as conn:
                result = load(
                    conn,
                    current.config.target,
                    validated_result.column_types,
                    validated_result.validated_path,
                    reject_paths,
                    context.run.run_id,
                )
                names, rows, _ = preview(conn, current.config.target, PREVIEW_ROWS)
        context.log.info(
            f"inserted {result.inserted}, updated {result.updated}, skipped {result.duplicates} duplicates, quarantined {result.rejected}; table now has {result.row_count} rows"
        )
        if result.added_columns:
            context.log.info(f"added columns to the table: {', '.join(result.added_columns)}")
        return MaterializeResult(
            metadata=_load_metadata(current, result, validated_result, url, names, rows, time.perf_counter() - started)
        )

    job = define_asset_job(
        f"{name}_elt",
        selection=AssetSelection.assets(extracted, validated, table),
        executor_def=in_process_executor,
        description=f"Extract, validate and load the {name} pipeline ({loaded.path.name}).",
    )
    return Definitions(
        assets=[extracted, validated, table],
        jobs=[job],
        resources={config_key: PipelineConfigResource(config_path=str(loaded.path))},
    )


def _load_metadata(
    loaded: LoadedConfig,
    result: LoadResult,
    validated: ValidateResult,
    url: str,
    names: list[str],
    rows: list[tuple],
    seconds: float,
) -> dict:
    target = loaded.config.target
    columns = [TableColumn(n, PG_TYPES[t]) for n, t in validated.column_types.items()]
    columns += [
        TableColumn("_elt_row_hash", "uuid"),
        TableColumn("_elt_source", "text"),
        TableColumn("_elt_run_id", "text"),
        TableColumn("_elt_loaded_at", "timestamptz"),
    ]
    return {
        "dagster/row_count": result.row_count,
        "dagster/column_schema": TableSchema(columns=columns),
        "dagster/table_name": f"{target.db_schema}.{target.table}",
        "inserted": result.inserted,
        "updated": result.updated,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "added_columns": MetadataValue.json(list(result.added_columns)),
        "preview": MetadataValue.md(markdown_table(names, rows)),
        "database": redact_url(url),
        "config_hash": loaded.content_hash,
        "duration_seconds": round(seconds, 3),
    }


class _user_errors:
    """Turn the engine's user-facing errors into a Dagster Failure with the plain message."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None and isinstance(exc, PipelineError):
            raise Failure(description=str(exc), metadata={"error": str(exc)}) from None
        return False
