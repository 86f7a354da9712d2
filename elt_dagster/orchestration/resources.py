"""Resources: a pipeline's YAML, the PostgreSQL it loads into, and the bookkeeping kept there.

The engine's database and file modules (psycopg, pyarrow) are imported by the methods that use them, not when the
definitions load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dagster import ConfigurableResource, InitResourceContext

from elt_dagster.engine.config import ConfigError, LoadedConfig, Target, load_config
from elt_dagster.engine.names import qualified_name

if TYPE_CHECKING:
    from elt_dagster.engine.state.fingerprints import Fingerprint
    from elt_dagster.engine.state.history import ConfigVersion

POSTGRES_RESOURCE = "postgres"
BOOKKEEPING_RESOURCE = "bookkeeping"


class PipelineConfigResource(ConfigurableResource):
    """One pipeline's YAML file, re-read and validated at each use so a run sees the file as it is now.

    Edits to sources and schema apply at the next run. An edit that changes what the assets are (the pipeline's
    name or its target table) is refused until the code location is reloaded, so rows never land in a table the
    UI reports under another asset.
    """

    config_path: str
    pipeline_name: str | None = None
    target_table: str | None = None

    def load(self) -> LoadedConfig:
        """The YAML as it is now; ConfigError if it is invalid or no longer matches the loaded definitions."""
        loaded = load_config(self.config_path)
        built = {"name": self.pipeline_name, "target": self.target_table}
        now = {"name": loaded.name, "target": qualified_table(loaded)}
        changed = [
            f"{key} is now {now[key]!r} (was {built[key]!r})" for key in built if built[key] not in (None, now[key])
        ]
        if changed:
            raise ConfigError(
                loaded.path,
                [
                    "; ".join(changed)
                    + ": the assets were built from the earlier version; reload the code location (UI: Deployment"
                    " -> Reload, or restart dagster) and run again"
                ],
            )
        return loaded


def qualified_table(loaded: LoadedConfig) -> str:
    """`<db_schema>.<table>` of the pipeline's target."""
    return qualified_name(loaded.config.target)


class PostgresResource(ConfigurableResource):
    """The default database: `database_url` (set it with `dg.EnvVar`, so that only the variable's name is stored),
    else env ELT_DATABASE_URL read at use, else the embedded PostgreSQL.

    A pipeline whose YAML names its own connection (`target.url` or host/...) uses that instead.
    """

    database_url: str | None = None

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Import the engine (pyarrow, numpy, psycopg: ~0.3 s) when the run starts its resources, before its
        steps: a step's time is then the load's (definitions still load without it, for the code server)."""
        import pgpq  # noqa: F401 - else imported by the first batch's encoding

        import elt_dagster.engine.run
        import elt_dagster.orchestration.reporting  # noqa: F401

    def url_for(self, target: Target) -> str:
        from elt_dagster.engine.db import target_database_url

        return target_database_url(target, self.database_url)


@dataclass(frozen=True)
class SourceChanges:
    """What a sensor saw: the new or changed local files (stat only) out of how many watched."""

    changed: list[Fingerprint]
    watched: int
    removed: list[str] = field(default_factory=list)
    """Recorded files that are gone (a partitioned pipeline loads their window again, a snapshot is read whole)."""
    listing_after: dict[str, str] = field(default_factory=dict)
    """Where each bucket prefix's listing goes on at the next tick (`objects/listing.py`): its last key listed."""

    def run_key(self) -> str:
        """The same changes give the same key, so each change launches exactly one run."""
        digest = hashlib.sha256()
        for item in sorted(self.changed, key=lambda f: f.path):
            digest.update(f"{item.path}\0{item.size}\0{item.mtime_ns}\n".encode())
        for path in self.removed:
            digest.update(f"{path}\0gone\n".encode())
        return digest.hexdigest()[:32]


@dataclass(frozen=True)
class FilePartitions:
    """A `by: files` pipeline's partitions after a sensor put its new files in new ones."""

    new_keys: list[str]
    assigned: dict[str, str]
    """path -> partition key of every file ever put in one."""

    @property
    def keys(self) -> list[str]:
        return sorted(set(self.assigned.values()))


class BookkeepingResource(ConfigurableResource):
    """Owns the bookkeeping tables in each target database (schema `elt`): config versions, file fingerprints,
    API cursors. Assets, sensors and the CLI read and write them through this resource (the engine's load writes
    fingerprints and cursors inside its own transaction, with the same functions).
    """

    database_url: str | None = None

    def record_config_version(self, loaded: LoadedConfig) -> tuple[ConfigVersion, bool]:
        """The config's version, stored as the next one if its text is new; (version, is_new)."""
        from elt_dagster.engine.db import connect, target_database_url
        from elt_dagster.engine.state.history import record_version

        with connect(target_database_url(loaded.config.target, self.database_url)) as conn:
            return record_version(conn, loaded)

    def config_versions_since(
        self, loaded: LoadedConfig, seen: tuple[int, str] | None, limit: int
    ) -> list[ConfigVersion]:
        """The versions recorded after `seen` (version, content hash), oldest first: all when `seen` is unknown."""
        from elt_dagster.engine.db import connect, target_database_url
        from elt_dagster.engine.state.history import versions_since

        with connect(target_database_url(loaded.config.target, self.database_url)) as conn:
            return versions_since(conn, loaded.name, seen, limit)

    def file_partitions(self, loaded: LoadedConfig, new_files: list[str]) -> FilePartitions:
        """Put `new_files` (oldest first) into new partitions of `files_per_partition` files (`by: files`)."""
        from elt_dagster.engine.db import connect, target_database_url
        from elt_dagster.engine.state.partition_files import assign_new_files, assigned_files

        partitions = loaded.config.partitions
        per_partition = partitions.batch_size if partitions else 1
        with connect(target_database_url(loaded.config.target, self.database_url)) as conn:
            new_keys = assign_new_files(conn, loaded.name, new_files, per_partition)
            return FilePartitions(new_keys, assigned_files(conn, loaded.name))

    def source_changes(
        self, loaded: LoadedConfig, limit: int, listing_after: dict[str, str] | None = None
    ) -> SourceChanges:
        """New or changed local files (stat only: content is never read) and objects (listed, never downloaded), at
        most `limit` of them; a bucket prefix is listed a bounded page at a time, after `listing_after`."""
        from elt_dagster.engine.db import connect, target_database_url
        from elt_dagster.engine.sources.files.extract import list_source_files
        from elt_dagster.engine.sources.objects.listing import sensor_objects
        from elt_dagster.engine.state.fingerprints import Fingerprint, files_to_read, stored_fingerprints
        from elt_dagster.engine.state.schema import ensure_state_tables

        files, _ = list_source_files(loaded)
        objects, next_after = sensor_objects(loaded, listing_after or {})  # listed only: key, size, last-modified
        current = [Fingerprint.stat(f.path) for f in files] + [item.fingerprint for item in objects]
        with connect(target_database_url(loaded.config.target, self.database_url)) as conn:
            ensure_state_tables(conn)
            stored = stored_fingerprints(conn, loaded.name)
        changed = files_to_read(current, stored, check_content=False)
        present = {f.path for f in current}
        removed = []
        if loaded.config.partitions or any(source.snapshot for source in loaded.config.sources):
            # an object is known gone only when this tick listed its whole prefix (not a page of it)
            whole = all(not (listing_after or {}).get(key) and not after for key, after in next_after.items())
            removed = sorted(path for path in stored if path not in present and (whole or "://" not in path))
        changed = sorted(changed, key=lambda f: f.path)[:limit]
        return SourceChanges(changed, len(current), removed[:limit], next_after)


def config_tags(version: ConfigVersion) -> dict[str, str]:
    """The tags that tie a run to the config version it used."""
    return {"elt/config_version": str(version.version), "elt/config_hash": version.content_hash}
