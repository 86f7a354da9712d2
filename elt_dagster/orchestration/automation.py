"""Sensors and schedules: runs start when source files arrive, on a cron inside a start/end window, and every
new config version is recorded as it appears in the config folder.

Every recorded version becomes a materialisation of `<name>/config_history`, whoever recorded it: the sensors and
each run emit the versions recorded after the asset's latest materialisation, so a version recorded outside Dagster
(`elt-dagster config upload`, `elt-dagster rejects replay`) appears at the next tick or run.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    MetadataValue,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from elt_dagster.engine.config import ConfigError, LoadedConfig, discover_configs, load_config
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.redaction import mask_values

from .partitions import changed_partitions, partitions_definition
from .queueing import apply_pool_limit
from .resources import BOOKKEEPING_RESOURCE, BookkeepingResource, PipelineConfigResource, config_tags

if TYPE_CHECKING:
    from elt_dagster.engine.state.history import ConfigVersion

    from .resources import SourceChanges

MAX_CHANGES_PER_TICK = 1_000
MAX_VERSIONS_PER_TICK = 100
"""Config versions one pipeline's tick (or run) materialises at most; the next one goes on from there."""
CONFIG_SENSOR_SECONDS = 30
Job = Any  # a JobDefinition, or the unresolved asset job define_asset_job returns


def config_history_key(pipeline: str) -> AssetKey:
    return AssetKey([pipeline, "config_history"])


def version_materialization(version: "ConfigVersion") -> AssetMaterialization:
    """A config version as a materialisation of the pipeline's `config_history` asset."""
    return AssetMaterialization(
        asset_key=config_history_key(version.pipeline),
        description=f"version {version.version} of {version.source_path}",
        metadata={
            "version": version.version,
            "content_hash": version.content_hash,
            "source_path": MetadataValue.path(version.source_path or ""),
            "yaml": MetadataValue.md(f"```yaml\n{version.yaml}\n```"),
        },
    )


def last_materialized_version(instance: DagsterInstance, pipeline: str) -> tuple[int, str] | None:
    """(version, content hash) of the latest materialisation of `<pipeline>/config_history`; None if there is none."""
    event = instance.get_latest_materialization_event(config_history_key(pipeline))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    if "version" not in metadata or "content_hash" not in metadata:
        return None
    return int(metadata["version"].value), str(metadata["content_hash"].value)


def config_history_events(
    instance: DagsterInstance, bookkeeping: BookkeepingResource, loaded: LoadedConfig
) -> list[AssetMaterialization]:
    """A materialisation for each version of the pipeline recorded after the latest one Dagster has, oldest first
    (all of them when the history is not the one Dagster saw, e.g. emptied); raises PipelineError."""
    seen = last_materialized_version(instance, loaded.name)
    versions = bookkeeping.config_versions_since(loaded, seen, MAX_VERSIONS_PER_TICK)
    return [version_materialization(version) for version in versions]


def build_source_sensor(loaded: LoadedConfig, job: Job, config_key: str) -> SensorDefinition:
    """`<name>_source_sensor`: launches the job when a source file or object (`type: s3`) is added or changed."""
    name = loaded.name

    @sensor(
        name=f"{name}_source_sensor",
        job=job,
        minimum_interval_seconds=loaded.config.automation.monitor_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        required_resource_keys={config_key, BOOKKEEPING_RESOURCE},
        description=f"Runs {name}_elt when a source file or object is added or changed (stat or listing only, every "
        f"{loaded.config.automation.monitor_interval_seconds} s), and once at start_time when a window is set.",
    )
    def source_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        pipeline: PipelineConfigResource = getattr(context.resources, config_key)
        bookkeeping: BookkeepingResource = getattr(context.resources, BOOKKEEPING_RESOURCE)
        try:
            current = pipeline.load()
        except ConfigError as exc:
            return SkipReason(f"the config is invalid, nothing launched: {exc}")
        problem = current.config.automation.window_problem(datetime.now(UTC))
        if problem:
            return SkipReason(f"{name} is {problem}: not watching")
        seen_window, listing_after = read_sensor_cursor(context.cursor)
        try:
            changes = bookkeeping.source_changes(current, MAX_CHANGES_PER_TICK, listing_after)
            version, _ = bookkeeping.record_config_version(current)
            events = config_history_events(context.instance, bookkeeping, current)
        except PipelineError as exc:
            return SkipReason(mask_values(f"can't check the sources: {exc}", current.env_secrets))
        definition = partitions_definition(loaded)
        if definition is not None:  # a run per partition whose files are new, changed or gone
            apply_pool_limit(context.instance, current)
            if isinstance(definition, DynamicPartitionsDefinition):  # by: files
                return file_batch_requests(context, current, definition, changes, config_tags(version), events)
            return partition_requests(context, current, definition, changes, config_tags(version), events)
        return change_requests(context, current, changes, config_tags(version), events, seen_window)

    return source_sensor


def change_requests(
    context: SensorEvaluationContext,
    loaded: LoadedConfig,
    changes: "SourceChanges",
    tags: dict[str, str],
    events: list[AssetMaterialization],
    seen_window: str | None,
) -> SensorResult:
    """An unpartitioned pipeline's tick: a run for the new or changed files and objects (and a snapshot's gone
    ones), and one at the start of a window; the cursor keeps the window seen and where each bucket's bounded listing goes on."""
    requests = []
    start, _ = loaded.config.automation.window()
    window_key = f"window-start:{start.isoformat()}" if start else None
    if window_key and seen_window != window_key:  # the first run of a window, without waiting for a change
        requests.append(RunRequest(run_key=window_key, tags=tags))
    paths = [f.path for f in changes.changed] + changes.removed  # removed: a snapshot's gone files
    if paths:
        requests.append(RunRequest(run_key=changes.run_key(), tags={**tags, "elt/changed_files": str(len(paths))}))
    cursor = sensor_cursor(window_key or seen_window, changes.listing_after)
    if not requests:
        skip = f"no new or changed files among the {changes.watched} watched"
        return SensorResult(skip_reason=skip, asset_events=events, cursor=cursor)
    context.log.info(changed_files_line(paths, loaded.env_secrets))
    return SensorResult(run_requests=requests, cursor=cursor, asset_events=events)


def read_sensor_cursor(cursor: str | None) -> tuple[str | None, dict[str, str]]:
    """(the window whose first run was requested, where each bucket's listing goes on) from a source sensor's
    cursor: JSON, or the window's key alone as cursors were before bounded listings."""
    if not cursor or not cursor.startswith("{"):
        return cursor or None, {}
    saved = json.loads(cursor)
    return saved.get("window"), dict(saved.get("listing_after") or {})


def sensor_cursor(window: str | None, listing_after: dict[str, str]) -> str | None:
    """The source sensor's cursor (`read_sensor_cursor`); None when there is nothing to keep."""
    if not listing_after:
        return window
    return json.dumps({"window": window, "listing_after": listing_after}, sort_keys=True)


def partition_requests(
    context: SensorEvaluationContext,
    loaded: LoadedConfig,
    definition: Any,
    changes: "SourceChanges",
    tags: dict[str, str],
    events: list[AssetMaterialization],
) -> SensorResult | SkipReason:
    """A partitioned pipeline's tick: a run for each complete window whose files are new, changed or gone."""
    paths = [f.path for f in changes.changed] + changes.removed
    keys = changed_partitions(loaded, definition, paths)
    tags = {**tags, "elt/changed_files": str(len(paths))}
    requests = [RunRequest(run_key=f"{changes.run_key()}:{key}", partition_key=key, tags=tags) for key in keys]
    if not requests:
        skip = f"no new, changed or removed files of a complete window among the {changes.watched} watched"
        return SensorResult(skip_reason=skip, asset_events=events) if events else SkipReason(skip)
    context.log.info(changed_files_line(paths, loaded.env_secrets) + f": partitions {', '.join(keys)}")
    return SensorResult(run_requests=requests, asset_events=events)


def file_batch_requests(
    context: SensorEvaluationContext,
    loaded: LoadedConfig,
    definition: DynamicPartitionsDefinition,
    changes: "SourceChanges",
    tags: dict[str, str],
    events: list[AssetMaterialization],
) -> SensorResult | SkipReason:
    """A `by: files` pipeline's tick: new files put (oldest first) into new partitions, which Dagster is told of
    (and of any an earlier tick made but could not add), and a run for each partition with new, changed or gone
    files."""
    bookkeeping: BookkeepingResource = getattr(context.resources, BOOKKEEPING_RESOURCE)
    oldest_first = [f.path for f in sorted(changes.changed, key=lambda f: (f.mtime_ns, f.path))]
    try:
        parts = bookkeeping.file_partitions(loaded, oldest_first)
    except PipelineError as exc:
        return SkipReason(mask_values(f"can't put the new files in partitions: {exc}", loaded.env_secrets))
    touched = sorted({parts.assigned[path] for path in oldest_first + changes.removed if path in parts.assigned})
    known = set(context.instance.get_dynamic_partitions(definition.name))
    missing = [key for key in parts.keys if key not in known]
    tags = {**tags, "elt/changed_files": str(len(oldest_first) + len(changes.removed))}
    requests = [RunRequest(run_key=f"{changes.run_key()}:{key}", partition_key=key, tags=tags) for key in touched]
    added = [definition.build_add_request(missing)] if missing else []
    if not requests and not added:
        skip = f"no new, changed or removed files among the {changes.watched} watched"
        return SensorResult(skip_reason=skip, asset_events=events) if events else SkipReason(skip)
    if parts.new_keys:
        context.log.info(f"{len(oldest_first)} new or changed files; new partitions {', '.join(parts.new_keys)}")
    return SensorResult(run_requests=requests, dynamic_partitions_requests=added, asset_events=events)


def changed_files_line(paths: list[str], secrets: frozenset[str]) -> str:
    """The sensor's log line naming the first five changed files, values from the environment masked."""
    names = ", ".join(Path(path).name for path in paths[:5])
    return mask_values(f"{len(paths)} new or changed files ({names}{', ...' if len(paths) > 5 else ''})", secrets)


def build_schedule(loaded: LoadedConfig, job: Job) -> ScheduleDefinition | None:
    """`<name>_schedule` when the YAML has `schedule:` or a start/end window; None otherwise."""
    config = loaded.config.automation
    if config.cron is None:
        return None

    @schedule(
        name=f"{loaded.name}_schedule",
        job=job,
        cron_schedule=config.cron,
        execution_timezone=config.timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Runs {loaded.name}_elt on '{config.cron}' ({config.timezone})"
        + (f" from {config.start_time}" if config.start_time else "")
        + (f" until {config.end_time}" if config.end_time else ""),
    )
    def pipeline_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        tick = context.scheduled_execution_time  # the tick's own time, so catch-up ticks are judged right
        problem = config.window_problem(tick)
        if problem:
            return SkipReason(f"the tick at {tick.isoformat()} is {problem}")
        return RunRequest(run_key=f"{loaded.name}:{tick.isoformat()}", tags={"elt/scheduled_for": tick.isoformat()})

    return pipeline_schedule


def build_config_sensor(folder: Path) -> SensorDefinition:
    """`config_history_sensor`: records each new version of every valid YAML in the config folder, and gives each
    partitioned table's pool its limit (`partitions.concurrent_runs`) at the daemon's start and every tick, so it
    holds before any of the table's loads has run, whatever launches them."""

    @sensor(
        name="config_history_sensor",
        minimum_interval_seconds=CONFIG_SENSOR_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        required_resource_keys={BOOKKEEPING_RESOURCE},
        description=f"Records every new version of the pipeline YAML files in {folder} (invalid ones are not stored) "
        "and materialises every recorded version not yet in the UI (`config upload` and `rejects replay` record too).",
    )
    def config_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        bookkeeping: BookkeepingResource = getattr(context.resources, BOOKKEEPING_RESOURCE)
        events, problems = [], []
        for path in discover_configs(folder) if folder.is_dir() else []:
            try:
                loaded = load_config(path)
                apply_pool_limit(context.instance, loaded)
                bookkeeping.record_config_version(loaded)
                events += config_history_events(context.instance, bookkeeping, loaded)
            except PipelineError as exc:
                problems.append(str(exc))
        for problem in problems:
            context.log.warning(f"not recorded: {problem}")
        if not events:
            return SkipReason("no new config versions" + (f"; {len(problems)} invalid file(s)" if problems else ""))
        return SensorResult(asset_events=events)

    return config_sensor
