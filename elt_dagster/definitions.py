"""`defs`: every pipeline YAML in the config folder (env ELT_CONFIG_DIR, default ./configs), each through the
`EltPipeline` component, plus what this project adds: the config history sensor, and the coverage asset with its sensor.

A YAML that fails validation does not take the code location down: the other pipelines load, and the broken one
shows up as an asset in the `config_errors` group (see `EltPipeline`), as a warning in the logs, and in the
definitions' metadata.
"""

import logging
import os
from pathlib import Path

from dagster import Definitions, definitions

from .engine.config import CONFIG_DIR_ENV, ConfigError, config_dir, discover_configs
from .orchestration.automation import build_config_sensor
from .orchestration.component import EltPipeline, broken_asset_name, broken_config_definitions, shared_resources
from .orchestration.health import coverage_asset, coverage_sensor

logger = logging.getLogger("elt_dagster")


def build_definitions(folder: Path | None = None) -> Definitions:
    """Definitions for every pipeline YAML in `folder`, plus the shared resources, sensors and coverage asset."""
    folder = folder or config_dir()
    pipelines: list[Definitions] = []
    names: dict[str, Path] = {}
    invalid: dict[str, str] = {}
    broken_names: set[str] = set()
    for path in discover_configs(folder) if folder.is_dir() else []:
        component = EltPipeline(config=str(path))
        try:
            loaded = component.read_config(folder)
            if loaded.name in names:
                raise ConfigError(path, [f"name: pipeline {loaded.name!r} is already defined by {names[loaded.name]}"])
        except ConfigError as exc:
            logger.warning("skipping invalid pipeline config: %s", exc)
            invalid[str(path)] = str(exc)
            pipelines.append(broken_config_definitions(path, exc, _unused(broken_asset_name(path), broken_names)))
            continue
        names[loaded.name] = path
        pipelines.append(component.definitions(folder, loaded))
    if not folder.is_dir():
        logger.warning("config folder %s does not exist: no pipelines loaded (set %s)", folder, CONFIG_DIR_ENV)
    shared = Definitions(
        assets=[coverage_asset],
        sensors=[build_config_sensor(folder), coverage_sensor],
        resources=shared_resources(),
        metadata={"config_dir": str(folder), "pipelines": sorted(names), "invalid_configs": invalid},
    )
    return Definitions.merge(*pipelines, shared)


def _unused(name: str, taken: set[str]) -> str:
    """`name`, else `name_2`, `name_3`...; added to `taken` (broken `a-b.yaml` and `a_b.yaml` get two keys)."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    taken.add(candidate)
    return candidate


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
