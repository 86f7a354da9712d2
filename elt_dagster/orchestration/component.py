"""`elt_dagster.EltPipeline`: a pipeline YAML as a Dagster Component.

In a dg project, `defs/<name>/defs.yaml` says `type: elt_dagster.EltPipeline` and points at a pipeline YAML in the
format of docs/yaml-reference.md; this project's own `configs/` folder (`elt_dagster.defs`) goes through the same
class.
A YAML that fails validation, or names a pipeline another YAML of the same project already defines, becomes one
asset in the `config_errors` group that explains the error, so a broken file never takes the other pipelines down.
"""

import functools
import logging
import re
import threading
from pathlib import Path

import dagster as dg
from pydantic import Field

from elt_dagster.engine.config import ConfigError, LoadedConfig, load_config

from .assets import build_pipeline
from .resources import BOOKKEEPING_RESOURCE, POSTGRES_RESOURCE, BookkeepingResource, PostgresResource
from .scaffolder import EltPipelineScaffolder

logger = logging.getLogger("elt_dagster")
CONFIG_ERRORS_GROUP = "config_errors"


@functools.cache
def shared_resources() -> dict[str, dg.ConfigurableResource]:
    """The database resources every pipeline uses (one object each: Definitions.merge accepts a resource key twice
    only when it is the same object).

    The default database is read from env ELT_DATABASE_URL when a run uses it, never put into the resources'
    config: Dagster stores resource config in its run storage, and the URL may hold a password.
    """
    return {POSTGRES_RESOURCE: PostgresResource(), BOOKKEEPING_RESOURCE: BookkeepingResource()}


def broken_asset_name(path: Path) -> str:
    """The name of a broken YAML's asset in the `config_errors` group: its file's stem as Dagster names allow."""
    return re.sub(r"[^A-Za-z0-9_]", "_", path.stem)


def broken_config_definitions(path: Path, error: ConfigError, name: str | None = None) -> dg.Definitions:
    """An asset in the `config_errors` group (named `name`, else after the file) whose description (and whose run)
    carries the config error."""
    message = str(error)

    @dg.asset(
        name=name or broken_asset_name(path),
        key_prefix=CONFIG_ERRORS_GROUP,
        group_name=CONFIG_ERRORS_GROUP,
        description=f"**Invalid pipeline config** — fix the file and reload.\n\n```\n{message}\n```",
    )
    def broken(context: dg.AssetExecutionContext) -> None:
        raise dg.Failure(description=message)

    return dg.Definitions(assets=[broken])


class PipelineNames:
    """What one code location has handed out: each pipeline name to the YAML defining it, each broken file's
    `config_errors` asset name, and the error of each broken file.

    A second YAML naming a pipeline already defined becomes a `config_errors` asset whose message names both files,
    instead of Dagster's "different resources with same key" for the whole code location.
    """

    def __init__(self) -> None:
        self.owners: dict[str, Path] = {}
        self.errors: dict[str, str] = {}
        self._broken: dict[Path, str] = {}

    def claim(self, name: str, path: Path) -> None:
        """Give `name` to the YAML at `path`; ConfigError when another YAML has it."""
        owner = self.owners.setdefault(name, path)
        if owner != path:
            raise ConfigError(path, [f"name: pipeline {name!r} is already defined by {owner}"])

    def broken_asset(self, path: Path, error: ConfigError) -> dg.Definitions:
        """The `config_errors` asset of a broken YAML, named after its file: `a_b`, else `a_b_2`, `a_b_3`..."""
        self.errors[str(path)] = str(error)
        if path not in self._broken:
            taken, stem, number = set(self._broken.values()), broken_asset_name(path), 1
            name = stem
            while name in taken:
                number += 1
                name = f"{stem}_{number}"
            self._broken[path] = name
        return broken_config_definitions(path, error, self._broken[path])


_NAMES_BY_TREE: dict[int, tuple[dg.ComponentTree, PipelineNames]] = {}
_NAMES_LOCK = threading.Lock()
_TREES_KEPT = 4


def names_of(tree: dg.ComponentTree) -> PipelineNames:
    """The names handed out while Dagster loads one dg project's defs folder (one component tree per load)."""
    with _NAMES_LOCK:
        if id(tree) not in _NAMES_BY_TREE:
            while len(_NAMES_BY_TREE) >= _TREES_KEPT:  # holding the tree keeps its id from being reused
                del _NAMES_BY_TREE[next(iter(_NAMES_BY_TREE))]
            _NAMES_BY_TREE[id(tree)] = (tree, PipelineNames())
        return _NAMES_BY_TREE[id(tree)][1]


@dg.scaffold_with(EltPipelineScaffolder)
class EltPipeline(dg.Component, dg.Resolvable, dg.Model):
    """One elt-dagster pipeline YAML (sources, target table, schema) as assets, checks, jobs, a sensor and a schedule.

    Builds, in the pipeline's asset group: `<name>/extracted`, `<name>/validated`, `<name>/<table>` (loaded by one
    step), `<name>/config_history`, the jobs `<name>_elt` and `<name>_preview`, the sensor `<name>_source_sensor`
    and, when the YAML has a schedule or a start/end window, `<name>_schedule`.
    """

    config: str = Field(description="The pipeline YAML (elt-dagster's format), relative to this defs.yaml.")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.definitions(context.path, names_of(context.component_tree))

    def config_path(self, base_dir: Path) -> Path:
        """The pipeline YAML's absolute path; relative paths are taken from `base_dir`."""
        path = Path(self.config).expanduser()
        return path if path.is_absolute() else base_dir / path

    def read_config(self, base_dir: Path) -> LoadedConfig:
        """The validated pipeline YAML; raises ConfigError."""
        return load_config(self.config_path(base_dir))

    def definitions(self, base_dir: Path, names: PipelineNames | None = None) -> dg.Definitions:
        """The pipeline's definitions, or a `config_errors` asset explaining why its YAML can't be used (invalid, or
        its name taken by another YAML in `names`)."""
        names = PipelineNames() if names is None else names
        path = self.config_path(base_dir)
        try:
            loaded = self.read_config(base_dir)
            names.claim(loaded.name, path)
        except ConfigError as exc:
            logger.warning("skipping invalid pipeline config: %s", exc)
            return dg.Definitions.merge(names.broken_asset(path, exc), dg.Definitions(resources=shared_resources()))
        return dg.Definitions.merge(build_pipeline(loaded), dg.Definitions(resources=shared_resources()))
