"""`defs`: every pipeline YAML in the config folder (env ELT_CONFIG_DIR, default ./configs), each through the
`EltPipeline` component, plus what this project adds: the config history sensor, and the coverage asset with its sensor.

A YAML that fails validation does not take the code location down: the other pipelines load, and the broken one
shows up as an asset in the `config_errors` group (see `EltPipeline`), as a warning in the logs, and in the
definitions' metadata.
"""

import logging
import os
from pathlib import Path

from dagster import Definitions, definitions, in_process_executor

from .engine.config import CONFIG_DIR_ENV, config_dir, discover_configs
from .orchestration.automation import build_config_sensor
from .orchestration.component import EltPipeline, PipelineNames, shared_resources
from .orchestration.health import coverage_asset, coverage_sensor

logger = logging.getLogger("elt_dagster")


def build_definitions(folder: Path | None = None) -> Definitions:
    """Definitions for every pipeline YAML in `folder`, plus the shared resources, sensors and coverage asset."""
    folder = folder or config_dir()
    names = PipelineNames()
    configs = discover_configs(folder) if folder.is_dir() else []
    pipelines = [EltPipeline(config=path.name).definitions(folder, names) for path in configs]
    if not folder.is_dir():
        logger.warning("config folder %s does not exist: no pipelines loaded (set %s)", folder, CONFIG_DIR_ENV)
    shared = Definitions(
        # an asset backfill's runs, like the <name>_elt jobs, load in the run's own process (not a step process):
        # one process per run, which run monitoring, retries and a kill see whole
        executor=in_process_executor,
        assets=[coverage_asset],
        sensors=[build_config_sensor(folder), coverage_sensor],
        resources=shared_resources(),
        metadata={"config_dir": str(folder), "pipelines": sorted(names.owners), "invalid_configs": names.errors},
    )
    return Definitions.merge(*pipelines, shared)


@definitions
def defs() -> Definitions:
    """The code location of `dagster dev` / `dagster job execute -m elt_dagster`: built when Dagster loads it.

    Dagster loads it several times per command (six for `dagster job execute`); while no config file and no
    environment variable changed, the definitions built first are returned again.
    """
    folder = config_dir().resolve()
    configs = discover_configs(folder) if folder.is_dir() else []
    stamps = tuple((str(path), stat.st_mtime_ns, stat.st_size) for path in configs for stat in [path.stat()])
    key = (str(folder), stamps, tuple(sorted(os.environ.items())))
    if key not in _BUILT:
        _BUILT.clear()
        _BUILT[key] = build_definitions(folder)
    return _BUILT[key]


_BUILT: dict[tuple, Definitions] = {}
