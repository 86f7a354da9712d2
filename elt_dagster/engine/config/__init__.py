"""The pipeline YAML: models, loading and errors."""

from elt_dagster.engine.config.models import ConfigError, LoadedConfig, load_config

__all__ = ["CONFIG_DIR_ENV", "ConfigError", "LoadedConfig", "config_dir", "discover_configs", "load_config"]

# temporary until the config package split lands
import os
from pathlib import Path

from elt_dagster.engine.config.models import discover_configs

CONFIG_DIR_ENV = "ELT_CONFIG_DIR"


def config_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV, "configs")).expanduser().resolve()
