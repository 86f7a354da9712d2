"""The pipeline YAML: its model (`models`, `automation`), reading it (`loading`, `env`) and its errors (`errors`)."""

from elt_dagster.engine.names import REJECTED_SUFFIX, RESERVED_PREFIX

from .automation import Automation
from .columns import ColumnRules
from .errors import ConfigError, format_loc
from .loading import (
    CONFIG_DIR_ENV,
    config_dir,
    default_pipeline_name,
    discover_configs,
    load_config,
    parse_config,
    read_config_text,
)
from .models import LoadedConfig, LocalSource, PipelineConfig, Schema, column_descriptions, column_rules
from .target import Target, delete_flag_column, key_columns, order_column

__all__ = [
    "CONFIG_DIR_ENV",
    "REJECTED_SUFFIX",
    "RESERVED_PREFIX",
    "Automation",
    "ColumnRules",
    "ConfigError",
    "LoadedConfig",
    "LocalSource",
    "PipelineConfig",
    "Schema",
    "Target",
    "column_descriptions",
    "column_rules",
    "config_dir",
    "default_pipeline_name",
    "delete_flag_column",
    "discover_configs",
    "format_loc",
    "key_columns",
    "load_config",
    "order_column",
    "parse_config",
    "read_config_text",
]
