"""How the `elt-dagster` commands find a pipeline: by its YAML file's path, or by its name among the pipeline YAML
files of the config folder, or, run from a dg project's root, of the project's `EltPipeline` components."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import yaml

from elt_dagster.engine.config import CONFIG_DIR_ENV, LoadedConfig, config_dir, discover_configs, load_config
from elt_dagster.engine.errors import PipelineError

COMPONENT_TYPES = ("elt_dagster.EltPipeline", "elt_dagster.orchestration.component.EltPipeline")


def dg_defs_folder(project_root: Path) -> Path | None:
    """The defs folder of the dg project at `project_root` (a pyproject.toml with `[tool.dg]`), else None."""
    try:
        settings = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    project = settings.get("tool", {}).get("dg", {}).get("project")
    if not isinstance(project, dict) or not isinstance(project.get("root_module"), str):
        return None
    defs_module = project.get("defs_module") or f"{project['root_module']}.defs"
    relative = Path(*str(defs_module).split("."))
    return next((p for p in (project_root / "src" / relative, project_root / relative) if p.is_dir()), None)


def component_configs(defs_folder: Path) -> list[Path]:
    """The pipeline YAML files the `elt_dagster.EltPipeline` components of a defs folder name, in path order."""
    found = []
    for defs_yaml in sorted(defs_folder.rglob("defs.yaml")):
        try:
            documents = list(yaml.safe_load_all(defs_yaml.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError):
            continue  # dg check defs reports it
        for doc in documents:
            config = (doc.get("attributes") or {}).get("config") if isinstance(doc, dict) else None
            if isinstance(config, str) and doc.get("type") in COMPONENT_TYPES:
                found.append((defs_yaml.parent / Path(config).expanduser()).resolve())
    return found


def pipeline_files() -> tuple[list[Path], str]:
    """The pipeline YAML files the commands know by name, and where they were looked for: env ELT_CONFIG_DIR when
    set, else the components of the dg project in the current folder, else ./configs."""
    defs_folder = None if os.environ.get(CONFIG_DIR_ENV) else dg_defs_folder(Path.cwd())
    if defs_folder is not None:
        return component_configs(defs_folder), f"the EltPipeline components of {defs_folder}"
    folder = config_dir()
    return discover_configs(folder), str(folder)


def find_pipeline(name_or_path: str) -> LoadedConfig:
    """A pipeline by its YAML file's path, or by its name among the pipeline YAML files the commands know."""
    if Path(name_or_path).is_file():
        return load_config(name_or_path)
    paths, where = pipeline_files()
    for path in paths:
        try:
            loaded = load_config(path)
        except PipelineError:
            continue
        if loaded.name == name_or_path:
            return loaded
    raise PipelineError(f"no pipeline named {name_or_path!r} in {where} (give its name or its YAML file)")


def pipeline_name(name_or_path: str) -> str:
    """The pipeline name a command on history (config versions, runs) looks for: a YAML file's `name` when given
    a path, else the argument itself (a pipeline whose YAML is gone from the config folder still has a history)."""
    if Path(name_or_path).is_file():
        return load_config(name_or_path).name
    return name_or_path
