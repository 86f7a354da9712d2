"""What every step that writes a pipeline's table shares: the start (config version, run tags, database) and how
errors end it (a lost connection retries the step, a user mistake fails it with the message, no traceback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dagster import Failure, OpExecutionContext, RetryRequested

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.errors import PipelineError

from .automation import config_history_events
from .queueing import apply_pool_limit
from .resources import (
    BOOKKEEPING_RESOURCE,
    POSTGRES_RESOURCE,
    BookkeepingResource,
    PipelineConfigResource,
    PostgresResource,
    config_tags,
)
from .stale_runs import fail_stale_runs, process_tags

if TYPE_CHECKING:
    from elt_dagster.engine.state.history import ConfigVersion

STEP_RETRIES = 2
"""Times a step runs again after losing the database connection (nothing of it was committed)."""
STEP_RETRY_SECONDS = 10


@dataclass(frozen=True)
class StepStart:
    """The YAML as it is now, the config version it is, and the database URL of its target."""

    loaded: LoadedConfig
    version: ConfigVersion
    url: str


def start_step(context: OpExecutionContext, config_key: str) -> StepStart:
    """Tag the run with its process, mark runs whose process died failed, read the YAML, record its version and tag
    the run with it; each version not yet materialised (this one, or one the CLI recorded) materialises
    `config_history`."""
    context.instance.add_run_tags(context.run.run_id, process_tags())
    fail_dead_runs(context)
    pipeline: PipelineConfigResource = getattr(context.resources, config_key)
    postgres: PostgresResource = getattr(context.resources, POSTGRES_RESOURCE)
    bookkeeping: BookkeepingResource = getattr(context.resources, BOOKKEEPING_RESOURCE)
    loaded = pipeline.load()
    apply_pool_limit(context.instance, loaded)  # for the next runs of a partitioned table (this one has its slot)
    version, _ = bookkeeping.record_config_version(loaded)
    context.instance.add_run_tags(context.run.run_id, config_tags(version))
    for event in config_history_events(context.instance, bookkeeping, loaded):
        context.log_event(event)
    context.log.info(f"{loaded.name}: config version {version.version} ({version.content_hash[:12]})")
    return StepStart(loaded, version, postgres.url_for(loaded.config.target))


def fail_dead_runs(context: OpExecutionContext) -> None:
    """Mark failed the runs of this machine left STARTED by a process that died (see stale_runs); a problem doing
    so is a warning, never the step's failure."""
    try:
        stale = fail_stale_runs(context.instance, f"run {context.run.run_id} of {context.job_name}")
    except Exception as exc:  # housekeeping: the load goes on
        context.log.warning(f"could not check for runs whose process died: {type(exc).__name__}: {exc}")
        return
    for run in stale:
        context.log.warning(f"marked run {run.run_id} of {run.job_name} failed: {run.message}")


@contextmanager
def step_errors(context: OpExecutionContext) -> Iterator[None]:
    """A lost connection retries the step (2 x 10 s); a PipelineError fails it with its message."""
    from elt_dagster.engine.db import ConnectionLost  # psycopg: imported by the step, not when definitions load

    try:
        yield
    except ConnectionLost as exc:  # the server went away: nothing was committed, so the step runs again
        context.log.warning(str(exc))
        raise RetryRequested(max_retries=STEP_RETRIES, seconds_to_wait=STEP_RETRY_SECONDS) from None
    except PipelineError as exc:
        raise Failure(description=str(exc), metadata={"error": str(exc)}) from None
