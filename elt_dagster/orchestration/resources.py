"""Resources: the pipeline's YAML and the PostgreSQL it loads into."""

from __future__ import annotations

from dagster import ConfigurableResource

from ..engine.config import LoadedConfig, Target, load_config
from ..engine.db import target_database_url


class PipelineConfigResource(ConfigurableResource):
    """One pipeline's YAML file, re-read and validated at each use so a run sees the file as it is now."""

    config_path: str

    def load(self) -> LoadedConfig:
        return load_config(self.config_path)


class PostgresResource(ConfigurableResource):
    """The default database: `database_url`, else env ELT_DATABASE_URL, else the embedded PostgreSQL.

    A pipeline whose YAML names its own connection (`target.url` or host/...) uses that instead.
    """

    database_url: str | None = None

    def url_for(self, target: Target) -> str:
        return target_database_url(target, self.database_url)
