"""`<name>_replay_rejects`: validate the quarantined records again with the current YAML and load those that pass.

The records recovered are loaded like any rows and leave quarantine in the same transaction (see
`engine/replay.py`). The run materialises the table and quarantine assets with what changed, and is tagged
`elt/replay_recovered` with how many records came back.
"""

from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetMaterialization,
    MetadataValue,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.redaction import mask_cells
from elt_dagster.engine.report import markdown_table

from .preview import PREVIEW_ROWS
from .queueing import load_pool, target_tag
from .resources import BOOKKEEPING_RESOURCE, POSTGRES_RESOURCE
from .steps import start_step, step_errors

if TYPE_CHECKING:
    from elt_dagster.engine.load.quarantine import QuarantineSummary
    from elt_dagster.engine.replay import ReplayReport

RECOVERED_TAG = "elt/replay_recovered"


def _materializations(
    keys: tuple[AssetKey, AssetKey],
    loaded: LoadedConfig,
    url: str,
    report: "ReplayReport",
    version: int,
    shown: tuple[list[str], list[tuple]],
    summary: "QuarantineSummary",
) -> list[AssetMaterialization]:
    """The table and its quarantine after a replay: what came back, what stays, and the figures of both."""
    from .reporting import qualified_table_name, quarantine_metadata

    target = loaded.config.target
    figures = {
        "recovered": report.recovered,
        "still_rejected": report.still_rejected,
        "reasons_changed": report.reasons_changed,
    }
    table_metadata = {
        "dagster/row_count": report.row_count,
        "dagster/table_name": qualified_table_name(url, target),
        "quarantined_total": summary.total,
        "inserted": report.inserted,
        "updated": report.updated,
        "duplicates": report.duplicates,
        "load_strategy": f"replay ({report.strategy})",
        "load_strategy_reason": report.strategy_reason,
        "config_version": version,
        "duration_seconds": round(report.seconds, 3),
        **figures,
    }
    names, rows = shown
    if names:
        table_metadata["preview"] = MetadataValue.md(markdown_table(names, mask_cells(rows, loaded.env_secrets)))
    metadata = {**quarantine_metadata(loaded, url, summary), **figures}
    return [
        AssetMaterialization(keys[0], description=report.summary(), metadata=table_metadata),
        AssetMaterialization(keys[1], description=report.summary(), metadata=metadata),
    ]


def build_replay_job(loaded: LoadedConfig, config_key: str, table_key: AssetKey, rejected_key: AssetKey):
    """The pipeline's replay job: one step, queued with the pipeline's loads (same target tag and pool)."""
    name = loaded.name

    @op(
        name=f"{name}_replay_rejects_step",
        required_resource_keys={config_key, POSTGRES_RESOURCE, BOOKKEEPING_RESOURCE},
        pool=load_pool(loaded),
    )
    def replay_step(context: OpExecutionContext) -> None:
        # the engine (pyarrow, numpy, psycopg) is imported by the step, not when definitions load
        from elt_dagster.engine.db import connect
        from elt_dagster.engine.load.quarantine import quarantine_summary
        from elt_dagster.engine.load.tables import preview
        from elt_dagster.engine.replay import replay_rejects

        with step_errors(context):
            start = start_step(context, config_key)
            current, url, target = start.loaded, start.url, start.loaded.config.target
            context.log.info(f"{name}: replaying the quarantine with config version {start.version.version}")
            report = replay_rejects(current, context.run.run_id, url)
            with connect(url) as conn:
                names, rows = preview(conn, target, PREVIEW_ROWS) if report.examined else ([], [])
                summary = quarantine_summary(conn, target, context.run.run_id)
        context.log.info(report.summary())
        context.instance.add_run_tags(context.run.run_id, {RECOVERED_TAG: str(report.recovered)})
        if report.examined:
            shown = (names, rows)
            keys = (table_key, rejected_key)
            for materialization in _materializations(keys, current, url, report, start.version.version, shown, summary):
                context.log_event(materialization)

    @job(
        name=f"{name}_replay_rejects",
        executor_def=in_process_executor,
        tags=target_tag(loaded),
        description=f"Validate {name}'s quarantined records again with the current YAML; load those that pass.",
    )
    def replay_job() -> None:
        replay_step()

    return replay_job
