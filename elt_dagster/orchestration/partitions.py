"""A partitioned pipeline in Dagster: its time-window partitions, its backfill policy, the windows of a run's
partition keys, the partitions whose files changed, and the schedule that loads each window once it is complete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster import (
    BackfillPolicy,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    DynamicPartitionsDefinition,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
    build_schedule_from_partitioned_job,
)

from elt_dagster.engine.config import LoadedConfig

if TYPE_CHECKING:
    from elt_dagster.engine.config.partitions import FileBatch, PartitionWindow

_DEFINITIONS = {
    "hour": HourlyPartitionsDefinition,
    "day": DailyPartitionsDefinition,
    "week": WeeklyPartitionsDefinition,
    "month": MonthlyPartitionsDefinition,
}


def partitions_definition(
    loaded: LoadedConfig,
) -> TimeWindowPartitionsDefinition | DynamicPartitionsDefinition | None:
    """The pipeline's time windows as Dagster partitions (complete windows only), its batches of files as dynamic
    partitions (added by the source sensor), or None when unpartitioned."""
    partitions = loaded.config.partitions
    if partitions is None:
        return None
    if partitions.by_files:
        return DynamicPartitionsDefinition(name=f"{loaded.name}_files")
    start, end = partitions.window()
    return _DEFINITIONS[partitions.by](start_date=start, end_date=end, timezone=partitions.timezone)


def backfill_policy(loaded: LoadedConfig) -> BackfillPolicy | None:
    """A backfill packs up to `max_partitions_per_run` partitions into one run (each its own transaction)."""
    partitions = loaded.config.partitions
    return BackfillPolicy.multi_run(partitions.max_partitions_per_run) if partitions else None


def windows(definition: Any, keys: list[str]) -> list[PartitionWindow | FileBatch]:
    """The engine's partitions of a run's partition keys: time windows, or batches of files."""
    from elt_dagster.engine.config.partitions import FileBatch, PartitionWindow

    if isinstance(definition, DynamicPartitionsDefinition):
        return [FileBatch(key) for key in keys]
    return [PartitionWindow(key, *definition.time_window_for_partition_key(key)) for key in keys]


def changed_partitions(loaded: LoadedConfig, definition: TimeWindowPartitionsDefinition, paths: list[str]) -> list[str]:
    """The partition keys whose files among `paths` (new, changed or gone) are, in order; windows not complete yet
    (not partitions yet) wait for a later tick, as their files stay changed until loaded."""
    from elt_dagster.engine.partition_run import path_dates

    keys = set()
    for date in path_dates(loaded, paths).values():
        key = definition.get_partition_key_for_timestamp(date.timestamp())
        if definition.has_partition_key(key):
            keys.add(key)
    return sorted(keys)


def partitioned_schedule(loaded: LoadedConfig, job: Any) -> Any:
    """None for batches of files (they have no time); else `<name>_schedule`: each window loaded once it is complete. Running from the start when the pipeline has an
    API source (nothing else asks for its windows); stopped otherwise, as the source sensor loads a window when its
    files arrive or change (turn it on to load every window whatever its files do)."""
    if loaded.config.partitions is None or loaded.config.partitions.by_files:
        return None
    has_api = any(source.type == "api" for source in loaded.config.sources)
    return build_schedule_from_partitioned_job(
        job,
        name=f"{loaded.name}_schedule",
        description=f"Loads each complete {loaded.config.partitions.by} window of {loaded.name} once it ends.",
        default_status=DefaultScheduleStatus.RUNNING if has_api else DefaultScheduleStatus.STOPPED,
    )
