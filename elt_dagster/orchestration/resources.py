"""Resources: a pipeline's YAML, the PostgreSQL it loads into, and the bookkeeping kept there."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from dagster import ConfigurableResource

from elt_dagster.engine.config.models import LoadedConfig, Target, load_config
from elt_dagster.engine.db import connect, target_database_url
from elt_dagster.engine.sources.files.extract import list_source_files
from elt_dagster.engine.state.files import Fingerprint, ensure_state_tables, files_to_read, stored_fingerprints
from elt_dagster.engine.state.history import ConfigVersion, record_version


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


@dataclass(frozen=True)
class SourceChanges:
    """What a sensor saw: the new or changed local files (stat only) out of how many watched."""

    changed: list[Fingerprint]
    watched: int

    def run_key(self) -> str:
        """The same changes give the same key, so each change launches exactly one run."""
        digest = hashlib.sha256()
        for item in sorted(self.changed, key=lambda f: f.path):
            digest.update(f"{item.path}\0{item.size}\0{item.mtime_ns}\n".encode())
        return digest.hexdigest()[:32]


class BookkeepingResource(ConfigurableResource):
    """Owns the bookkeeping tables in each target database (schema `elt`): config versions, file fingerprints,
    API cursors. Assets, sensors and the CLI read and write them through this resource (the engine's load writes
    fingerprints and cursors inside its own transaction, with the same functions).
    """

    database_url: str | None = None

    def record_config_version(self, loaded: LoadedConfig) -> tuple[ConfigVersion, bool]:
        """The config's version, stored as the next one if its text is new; (version, is_new)."""
        with connect(target_database_url(loaded.config.target, self.database_url)) as conn:
            return record_version(conn, loaded)

    def source_changes(self, loaded: LoadedConfig, limit: int) -> SourceChanges:
        """New or changed local files (stat only: content is never read), at most `limit` of them."""
        files, _ = list_source_files(loaded)
        current = [Fingerprint.stat(f.path) for f in files]
        with connect(target_database_url(loaded.config.target, self.database_url)) as conn:
            ensure_state_tables(conn)
            stored = stored_fingerprints(conn, loaded.name)
        changed = files_to_read(current, stored, check_content=False)
        return SourceChanges(sorted(changed, key=lambda f: f.path)[:limit], len(current))


def config_tags(version: ConfigVersion) -> dict[str, str]:
    """The tags that tie a run to the config version it used."""
    return {"elt/config_version": str(version.version), "elt/config_hash": version.content_hash}
