"""How runs share the databases: a run tag naming the target table, and a concurrency pool per target database.

The instance's run queue (`dagster.yaml`) lets one run per `elt/target` value run at a time, so two pipelines
writing one table queue one behind the other instead of waiting on a database lock, while pipelines writing
different tables run side by side. The load step's pool (`elt/<database>`) bounds the loads into one database.

A partitioned pipeline's partitions of one table load side by side: its load step's pool is the table's
(`elt/<database>/<schema>.<table>`), limited to `partitions.concurrent_runs` loads at once. A pool is an op's, so it
holds for every run, a backfill's too (a run tag of the job does not reach the runs of an asset backfill).
"""

from __future__ import annotations

from dagster import DagsterInstance

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.names import qualified_name

TARGET_TAG = "elt/target"
DEFAULT_DATABASE = "default"
"""The database label of pipelines without their own connection (ELT_DATABASE_URL, or the embedded server)."""


def target_database(loaded: LoadedConfig) -> str:
    """The target database's name as the YAML gives it (never connecting); "default" without a connection."""
    target = loaded.config.target
    if target.url:
        from psycopg.conninfo import conninfo_to_dict  # psycopg only for a YAML with its own URL

        try:
            return str(conninfo_to_dict(target.url).get("dbname") or "postgres")
        except Exception:  # an unparsable URL fails at the run, with its own clear message
            return DEFAULT_DATABASE
    if target.host or target.database:
        return target.database or "postgres"
    return DEFAULT_DATABASE


def target_tag(loaded: LoadedConfig) -> dict[str, str]:
    """The run tag `elt/target: <database>.<schema>.<table>`."""
    target = loaded.config.target
    return {TARGET_TAG: f"{target_database(loaded)}.{qualified_name(target)}"}


def load_pool(loaded: LoadedConfig) -> str:
    """The concurrency pool of the pipeline's load step: one per target database; a partitioned pipeline's, one per
    target table."""
    if loaded.config.partitions is not None:
        return f"elt/{target_database(loaded)}/{qualified_name(loaded.config.target)}"
    return f"elt/{target_database(loaded)}"


def apply_pool_limit(instance: DagsterInstance, loaded: LoadedConfig) -> None:
    """Give a partitioned pipeline's table pool its limit, `partitions.concurrent_runs` (when it differs)."""
    partitions = loaded.config.partitions
    storage = instance.event_log_storage
    if partitions is None or not storage.supports_global_concurrency_limits:
        return
    pool = load_pool(loaded)
    if storage.get_concurrency_info(pool).slot_count != partitions.concurrent_runs:
        storage.set_concurrency_slots(pool, partitions.concurrent_runs)
