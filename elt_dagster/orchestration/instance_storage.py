"""Dagster's instance storage of the repository's dagster.yaml: PostgreSQL, where dev.py would put it.

ELT_DAGSTER_STORAGE_URL when set; else the embedded server's `dagster` database, the server started if needed (as
dev.py and the data's default, ELT_DATABASE_URL unset, do). So `dagster job execute` by hand needs only
DAGSTER_HOME. Each Dagster process (webserver, daemon, code server, run) resolves the URL itself.
In `dagster.yaml`: `storage: {custom: {module: elt_dagster.orchestration.instance_storage, class: EltInstanceStorage}}`.
"""

from __future__ import annotations

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage


def storage_url() -> str:
    """ELT_DAGSTER_STORAGE_URL, else the embedded server's `dagster` database (the server started if needed)."""
    from elt_dagster.engine import embedded  # psycopg, only when a Dagster process opens its instance

    return embedded.instance_url()


class EltInstanceStorage(DagsterPostgresStorage):
    """Dagster's PostgreSQL storage at `storage_url()`; it takes no settings in dagster.yaml."""

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict
    ) -> EltInstanceStorage:
        return cls(postgres_url=storage_url(), inst_data=inst_data)
