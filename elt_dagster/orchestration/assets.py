"""The asset factory: one YAML file becomes four assets (plus its config history), jobs and a resource.

    <name>/extracted            every new or changed source file -> this run's staging CSV
    <name>/validated            rows typed and standardised; rejects set aside with a reason
    <name>/<table>              the PostgreSQL table, loaded with COPY and row-hash dedup (`<table>_table` for a
                                table named extracted, validated or config_history: keys never collide)
    <name>/<table>__rejected    the quarantine table: every record that could not be loaded, and why

The four are materialised by one step (a multi-asset), because the engine streams: it reads, validates and
loads batch by batch, with the database working in parallel. No data passes through an IO manager. A run that
reads nothing new materialises none of them, so the last load's figures and checks stand.
"""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Definitions,
    DynamicPartitionsDefinition,
    MaterializeResult,
    TimeWindowPartitionsDefinition,
    define_asset_job,
    in_process_executor,
    multi_asset,
)
from pydantic import Field

from elt_dagster.engine.config import REJECTED_SUFFIX, LoadedConfig
from elt_dagster.engine.names import qualified_name
from elt_dagster.engine.redaction import mask_values, redact_url

from .automation import (
    build_schedule,
    build_source_sensor,
    config_history_key,
)
from .checks import check_results, check_specs, standing_results
from .partitions import backfill_policy, partitioned_schedule, partitions_definition, windows
from .preview import PREVIEW_ROWS, build_preview_job
from .queueing import load_pool, target_tag
from .replay import build_replay_job
from .resources import (
    BOOKKEEPING_RESOURCE,
    POSTGRES_RESOURCE,
    PipelineConfigResource,
    qualified_table,
)
from .steps import start_step, step_errors

if TYPE_CHECKING:
    from elt_dagster.engine.run import RunReport

FULL_REFRESH_TAG = "elt/full_refresh"
ALLOW_DELETES_TAG = "elt/allow_deletes"
STEP_ASSET_NAMES = frozenset({"extracted", "validated", config_history_key("").path[-1]})
"""The pipeline's own assets beside its table: a table of one of these names gets the key `<name>/<table>_table`."""
TABLE_KEY_SUFFIX = "_table"


class RunOptions(Config):
    """Run configuration of an ELT job."""

    full_refresh: bool = Field(
        default=False,
        description="Read every source file again, not only new or changed ones (also: tag elt/full_refresh=true).",
    )
    allow_deletes: bool = Field(
        default=False,
        description="Let a snapshot source delete more keys than target.max_deleted (also: tag elt/allow_deletes=true).",
    )


@dataclass(frozen=True)
class PipelineKeys:
    """How one pipeline's names become Dagster's: asset keys, the step, the jobs and its config resource."""

    name: str
    table: str

    @classmethod
    def of(cls, loaded: LoadedConfig) -> "PipelineKeys":
        return cls(loaded.name, re.sub(r"[^A-Za-z0-9_]", "_", loaded.config.target.table))

    @property
    def extracted(self) -> AssetKey:
        return AssetKey([self.name, "extracted"])

    @property
    def validated(self) -> AssetKey:
        return AssetKey([self.name, "validated"])

    @property
    def target(self) -> AssetKey:
        return AssetKey([self.name, self.table + TABLE_KEY_SUFFIX if self.table in STEP_ASSET_NAMES else self.table])

    @property
    def rejected(self) -> AssetKey:
        return AssetKey([self.name, self.table + REJECTED_SUFFIX])

    @property
    def config_resource(self) -> str:
        return f"{self.name}_config"


def _describe(loaded: LoadedConfig) -> str:
    """The pipeline for the extracted asset's description, its values from the environment masked (a source path)."""
    config = loaded.config
    sources = ", ".join(source.describe(loaded.base_dir) for source in config.sources)
    target = config.target
    key = f", primary key {target.primary_key}" if target.primary_key else ""
    text = (
        f"Pipeline **{loaded.name}** from `{loaded.path}`.\n\nSources: {sources}\n\n"
        f"Target: `{qualified_name(target)}`, mode `{target.mode}`{key}"
    )
    return mask_values(text, loaded.env_secrets)


def _load_specs(loaded: LoadedConfig, keys: PipelineKeys) -> list[AssetSpec]:
    target = loaded.config.target
    return [
        AssetSpec(
            keys.extracted,
            skippable=True,
            group_name=keys.name,
            kinds={"python", "csv"},
            description="New or changed source files, read into this run's staging CSV.\n\n" + _describe(loaded),
        ),
        AssetSpec(
            keys.validated,
            skippable=True,
            deps=[keys.extracted],
            group_name=keys.name,
            kinds={"python"},
            description="Rows typed and standardised by the schema; rejects set aside with a reason.",
        ),
        AssetSpec(
            keys.target,
            skippable=True,
            deps=[keys.validated, config_history_key(keys.name)],
            group_name=keys.name,
            kinds={"postgres", "table"},
            description=f"The PostgreSQL table `{qualified_name(target)}` ({target.mode}), "
            "loaded with COPY and row-hash dedup.",
        ),
        AssetSpec(
            keys.rejected,
            skippable=True,
            deps=[keys.validated],
            group_name=keys.name,
            kinds={"postgres", "table"},
            description=f"Quarantine: `{qualified_name(target, REJECTED_SUFFIX)}` holds every record "
            f"that could not be loaded, with the column and reason. Fix the YAML, then run `{keys.name}_replay_rejects` "
            "to load the records that pass now.",
        ),
    ]


def _build_elt_step(loaded: LoadedConfig, keys: PipelineKeys):
    """The one step that extracts, validates and loads, materialising the three load assets."""
    partitions_def = partitions_definition(loaded)

    @multi_asset(
        name=f"{keys.name}_elt_step",
        specs=_load_specs(loaded, keys),
        check_specs=check_specs(keys.target),
        required_resource_keys={keys.config_resource, POSTGRES_RESOURCE, BOOKKEEPING_RESOURCE},
        pool=load_pool(loaded),
        partitions_def=partitions_def,
        backfill_policy=backfill_policy(loaded),
    )
    def elt(context: AssetExecutionContext, config: RunOptions):
        # the engine (pyarrow, numpy, psycopg) is imported by the step, not when definitions load
        from elt_dagster.engine.db import connect
        from elt_dagster.engine.load.quarantine import quarantine_summary
        from elt_dagster.engine.load.tables import preview

        from . import reporting

        full_refresh = config.full_refresh or _tag_set(context, FULL_REFRESH_TAG)
        allow_deletes = config.allow_deletes or _tag_set(context, ALLOW_DELETES_TAG)
        with step_errors(context), reporting.masked_errors(getattr(context.resources, keys.config_resource).load):
            start = start_step(context, keys.config_resource)
            current, version, url = start.loaded, start.version, start.url
            secrets, where = current.env_secrets, mask_values(redact_url(url), current.env_secrets)
            context.log.info(f"{keys.name}: loading into {where}" + (" (full refresh)" if full_refresh else ""))
            report = _load(context, current, url, (full_refresh, allow_deletes), partitions_def)
            if report.files or report.partition:  # a partition with no files was emptied: a materialisation too
                with connect(url) as conn:
                    shown = preview(conn, current.config.target, PREVIEW_ROWS)
                    quarantined = quarantine_summary(conn, current.config.target, context.run.run_id)
        reporting.log_report(context, report, secrets)
        if not report.files and not report.partition:  # no materialisation: the last load's figures stand
            yield from standing_results(context, keys.target)
            return
        yield MaterializeResult(asset_key=keys.extracted, metadata=reporting.extract_metadata(report))
        yield MaterializeResult(asset_key=keys.validated, metadata=reporting.validate_metadata(report, secrets))
        metadata = reporting.table_metadata(current, report, url, shown, quarantined)
        metadata["config_version"] = version.version
        yield MaterializeResult(asset_key=keys.target, metadata=metadata)
        yield MaterializeResult(
            asset_key=keys.rejected, metadata=reporting.quarantine_metadata(current, url, quarantined)
        )
        yield from check_results(current, report, keys.target)

    return elt


def _tag_set(context: AssetExecutionContext, tag: str) -> bool:
    """Whether the run's tag `tag` says yes (1, true, yes)."""
    return context.run.tags.get(tag, "").lower() in ("1", "true", "yes")


def _load(
    context: AssetExecutionContext,
    loaded: LoadedConfig,
    url: str,
    options: tuple[bool, bool],
    partitions_def: TimeWindowPartitionsDefinition | DynamicPartitionsDefinition | None,
) -> "RunReport":
    """The engine's run (`options`: full refresh, allow deletes); for a partitioned pipeline each partition of the
    run in its own transaction, and one report of them all."""
    if partitions_def is None:
        from elt_dagster.engine.run import run_pipeline

        full_refresh, allow_deletes = options
        return run_pipeline(loaded, context.run.run_id, url, full_refresh=full_refresh, allow_deletes=allow_deletes)
    from elt_dagster.engine.partition_run import combined_report, run_partitions

    run_windows = windows(partitions_def, list(context.partition_keys))
    return combined_report(run_partitions(loaded, run_windows, context.run.run_id, url))


def build_pipeline(loaded: LoadedConfig) -> Definitions:
    """Assets, checks, jobs, sensor, schedule and config resource for one pipeline YAML."""
    keys = PipelineKeys.of(loaded)
    partitions = loaded.config.partitions
    job = define_asset_job(
        f"{keys.name}_elt",
        selection=[keys.extracted, keys.validated, keys.target, keys.rejected],
        executor_def=in_process_executor,
        # a partitioned table's loads are limited by its pool (concurrent_runs), not one at a time by the queue
        tags=target_tag(loaded) if partitions is None else {},
        description=f"Extract, validate and load the {keys.name} pipeline ({loaded.path.name}).",
    )
    history = AssetSpec(
        config_history_key(keys.name),
        group_name=keys.name,
        kinds={"yaml"},
        description=f"Every version of `{loaded.path.name}` (secrets redacted), recorded by the config_history_sensor "
        "and at each run; each materialisation is one version.",
    )
    schedule = build_schedule(loaded, job) if partitions is None else partitioned_schedule(loaded, job)
    resource = PipelineConfigResource(
        config_path=str(loaded.path), pipeline_name=keys.name, target_table=qualified_table(loaded)
    )
    return Definitions(
        assets=[_build_elt_step(loaded, keys), history],
        jobs=[
            job,
            build_preview_job(keys.name, keys.config_resource, keys.target),
            build_replay_job(loaded, keys.config_resource, keys.target, keys.rejected),
        ],
        sensors=[build_source_sensor(loaded, job, keys.config_resource)],
        schedules=[schedule] if schedule else [],
        resources={keys.config_resource: resource},
    )
