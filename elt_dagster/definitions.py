"""`defs`: every pipeline YAML in the config folder (env ELT_CONFIG_DIR, default ./configs) as Dagster definitions.

A YAML that fails validation does not take the code location down: the other pipelines load, and the
broken one shows up as an asset in the `config_errors` group whose description (and whose run) carries
the error, as a warning in the logs, and in the definitions' metadata.
"""

import logging
import os
from pathlib import Path

from dagster import AssetExecutionContext, Definitions, Failure, asset

from elt_dagster.engine.config.models import ConfigError, discover_configs, load_config

from .orchestration.assets import POSTGRES_RESOURCE, build_pipeline
from .orchestration.automation import BOOKKEEPING_RESOURCE, build_config_sensor
from .orchestration.health import test_coverage
from .orchestration.resources import BookkeepingResource, PostgresResource

CONFIG_DIR_ENV = "ELT_CONFIG_DIR"
logger = logging.getLogger("elt_dagster")


def config_dir() -> Path:
    """The folder of pipeline YAML files."""
    return Path(os.environ.get(CONFIG_DIR_ENV, "configs")).expanduser().resolve()


def _broken_config_asset(path: Path, error: ConfigError):
    message = str(error)

    @asset(
        name=path.stem.replace("-", "_").replace(".", "_"),
        key_prefix="config_errors",
        group_name="config_errors",
        description=f"**Invalid pipeline config** — fix the file and reload.\n\n```\n{message}\n```",
    )
    def broken(context: AssetExecutionContext) -> None:
        raise Failure(description=message)

    return broken


def build_definitions(folder: Path | None = None) -> Definitions:
    """Definitions for every pipeline YAML in `folder`, plus the shared PostgreSQL resource."""
    folder = folder or config_dir()
    pipelines: list[Definitions] = []
    broken_assets = []
    errors: dict[str, str] = {}
    names: dict[str, Path] = {}
    for path in discover_configs(folder) if folder.is_dir() else []:
        try:
            loaded = load_config(path)
            if loaded.name in names:
                raise ConfigError(path, [f"name: pipeline {loaded.name!r} is already defined by {names[loaded.name]}"])
        except ConfigError as exc:
            logger.warning("skipping invalid pipeline config: %s", exc)
            errors[str(path)] = str(exc)
            broken_assets.append(_broken_config_asset(path, exc))
            continue
        names[loaded.name] = path
        pipelines.append(build_pipeline(loaded))
    if not folder.is_dir():
        logger.warning("config folder %s does not exist: no pipelines loaded (set %s)", folder, CONFIG_DIR_ENV)
    default_url = os.environ.get("ELT_DATABASE_URL")
    shared = Definitions(
        assets=[*broken_assets, test_coverage],
        sensors=[build_config_sensor(folder)],
        resources={
            POSTGRES_RESOURCE: PostgresResource(database_url=default_url),
            BOOKKEEPING_RESOURCE: BookkeepingResource(database_url=default_url),
        },
        metadata={"config_dir": str(folder), "pipelines": sorted(names), "invalid_configs": errors},
    )
    return Definitions.merge(shared, *pipelines)


defs = build_definitions()
