"""How the `elt-dagster` commands find a pipeline: by its YAML file's path, or by its name in the config folder."""

from __future__ import annotations

from pathlib import Path

from elt_dagster.engine.config import LoadedConfig, config_dir, discover_configs, load_config
from elt_dagster.engine.errors import PipelineError


def find_pipeline(name_or_path: str) -> LoadedConfig:
    """A pipeline by its YAML file's path, or by its name among the YAML files of the config folder."""
    if Path(name_or_path).is_file():
        return load_config(name_or_path)
    folder = config_dir()
    for path in discover_configs(folder):
        try:
            loaded = load_config(path)
        except PipelineError:
            continue
        if loaded.name == name_or_path:
            return loaded
    raise PipelineError(f"no pipeline named {name_or_path!r} in {folder} (give its name or its YAML file)")


def pipeline_name(name_or_path: str) -> str:
    """The pipeline name a command on history (config versions, runs) looks for: a YAML file's `name` when given
    a path, else the argument itself (a pipeline whose YAML is gone from the config folder still has a history)."""
    if Path(name_or_path).is_file():
        return load_config(name_or_path).name
    return name_or_path
