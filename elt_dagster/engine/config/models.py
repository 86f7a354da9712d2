"""The pipeline model: sources, target, schema, and the automation section, as typed pydantic models."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from elt_dagster.engine.errors import PipelineError, StrictModel
from elt_dagster.engine.names import OWN_TABLE_SUFFIXES, REJECTED_SUFFIX
from elt_dagster.engine.prefetch import usable_cores
from elt_dagster.engine.sources.api.models import ApiSource

from .automation import AUTOMATION_KEYS, AUTOMATION_SECTION, Automation
from .columns import ColumnRules
from .partitions import Partitions, check_partitioned
from .schema import MAX_IDENTIFIER_BYTES, Schema

BOOKKEEPING_SCHEMA = "elt"
"""The schema of elt-dagster's own tables in each target database (engine/state): no target table goes there."""
RESERVED_PIPELINE_NAMES = frozenset({"config_errors", "project_health"})
"""Asset key prefixes of the Dagster layer's own assets (broken configs, test coverage): no pipeline has them."""
_NOWHERE = Path("/nonexistent-elt-dagster-folder")


class LocalSource(StrictModel):
    """Files on the local disk: one file, or the files of a folder that match `pattern`."""

    type: Literal["local"] = "local"
    path: str
    pattern: str | None = None
    """Which files of the folder: default `*`, or `**/*` (its subfolders too) in a partitioned pipeline."""
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str = "utf-8"
    records_path: str | None = None

    @field_validator("pattern")
    @classmethod
    def _relative_pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if Path(value).is_absolute():
            raise ValueError(
                f"{value!r} is absolute: a pattern picks files inside `path`; put the folder in `path` "
                '(e.g. path: /etc, pattern: "*.csv")'
            )
        try:  # the folder does not exist: this only checks that the pattern is one glob accepts
            next(_NOWHERE.glob(value), None)
        except (ValueError, IndexError, NotImplementedError) as exc:
            detail = str(exc) if isinstance(exc, ValueError) else "it names no files"
            raise ValueError(f'{value!r} is not a file pattern ({detail}); e.g. "*.csv" or "**/*.json"') from None
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, utf-8-sig, latin-1, cp1252)") from None
        return value

    def describe(self, base_dir: Path) -> str:
        """The source for a person: its resolved path and pattern."""
        return f"`{self.resolved_path(base_dir)}` ({self.pattern or '*'})"

    def file_pattern(self, partitioned: bool) -> str:
        """The glob pattern of the files to read: `pattern`, or its default."""
        return self.pattern or ("**/*" if partitioned else "*")

    def resolved_path(self, base_dir: Path) -> Path:
        """The source path, relative paths taken from the folder of the YAML file."""
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else (base_dir / path).resolve()


def _source_type(value: Any) -> str:
    """A source's `type`, "local" when left out."""
    if isinstance(value, dict):
        return str(value.get("type", "local"))
    return str(getattr(value, "type", "local"))


Source = Annotated[Annotated[LocalSource, Tag("local")] | Annotated[ApiSource, Tag("api")], Discriminator(_source_type)]


class Target(StrictModel):
    """Where the rows go: a PostgreSQL table."""

    table: str = Field(min_length=1)
    db_schema: str = Field(default="public", min_length=1)
    mode: Literal["append", "merge"] = "append"
    primary_key: list[str] = Field(default_factory=list)
    order_by: str | None = Field(default=None, min_length=1)
    url: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = None

    @field_validator("table", "db_schema")
    @classmethod
    def _fits_postgres(cls, value: str) -> str:
        if len((value + REJECTED_SUFFIX).encode()) > MAX_IDENTIFIER_BYTES:
            raise ValueError(
                f"{value!r} is too long: PostgreSQL names are at most {MAX_IDENTIFIER_BYTES} bytes "
                f"and the quarantine table adds {REJECTED_SUFFIX!r}"
            )
        return value

    @field_validator("db_schema")
    @classmethod
    def _not_a_reserved_schema(cls, value: str) -> str:
        name = value.lower()
        if name == BOOKKEEPING_SCHEMA:
            raise ValueError(
                f"schema {value!r} is reserved: elt-dagster keeps its own tables there (file fingerprints, "
                "cursors, row counts, config history); choose another schema"
            )
        if name.startswith("pg_") or name == "information_schema":
            raise ValueError(f"schema {value!r} is reserved by PostgreSQL (pg_* and information_schema)")
        return value

    @field_validator("table")
    @classmethod
    def _not_an_own_name(cls, value: str) -> str:
        suffix = next((suffix for suffix in OWN_TABLE_SUFFIXES if value.endswith(suffix)), None)
        if suffix:
            raise ValueError(
                f"{value!r} ends in {suffix!r}: elt-dagster names what it creates beside a table so (the quarantine "
                f"table `<table>{REJECTED_SUFFIX}` and the indexes `<table>__row_hash`, `<table>__pk`)"
            )
        return value

    @model_validator(mode="after")
    def _merge_needs_key(self) -> Target:
        if self.mode == "merge" and not self.primary_key:
            raise ValueError("mode 'merge' needs a primary_key (a list of column names)")
        if self.order_by and self.mode != "merge":
            raise ValueError("order_by decides which row of a key wins in mode 'merge'; this target appends")
        if self.url and (self.host or self.database):
            raise ValueError("give either url or host/port/database/user/password, not both")
        return self


class PipelineConfig(StrictModel):
    """One pipeline: where the data comes from, how it is checked, where it goes, and (`automation`) when it runs."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    sources: list[Source] = Field(min_length=1)
    target: Target
    schema_: Schema | None = Field(default=None, alias="schema")
    automation: Automation = Field(default_factory=Automation, validation_alias=AUTOMATION_SECTION)
    partitions: Partitions | None = None
    workers: int | None = Field(default=None, ge=1, le=64)
    """Partitions loaded, or batches prepared, at once (default: the cores this process may use, at most 4)."""

    @field_validator("name")
    @classmethod
    def _not_a_reserved_name(cls, value: str) -> str:
        if value in RESERVED_PIPELINE_NAMES:
            raise ValueError(f"{value!r} is reserved for elt-dagster's own assets: choose another pipeline name")
        return value

    @model_validator(mode="before")
    @classmethod
    def _gather_automation(cls, data: Any) -> Any:
        """The automation keys are written at the top level of the YAML; they form the `automation` section."""
        if not isinstance(data, dict):
            return data
        section = {key: data[key] for key in AUTOMATION_KEYS if key in data}
        return {**{k: v for k, v in data.items() if k not in AUTOMATION_KEYS}, AUTOMATION_SECTION: section}

    @field_validator("partitions")
    @classmethod
    def _partitions_append_only(cls, value: Partitions | None, info: ValidationInfo) -> Partitions | None:
        if value is not None:
            check_partitioned(value, info.data.get("target"), info.data.get("automation"), info.data.get("sources"))
        return value

    @property
    def worker_count(self) -> int:
        """`workers`, or the cores this process may use (`usable_cores`), at most 4."""
        return self.workers or min(4, usable_cores())

    def undeclared_key_columns(self) -> list[str]:
        """Primary key columns that a declared schema does not have."""
        if not (self.schema_ and self.schema_.columns):
            return []
        declared = {name.lower() for name in self.schema_.columns}
        return [key for key in self.target.primary_key if key.strip().lower() not in declared]


class LoadedConfig(BaseModel):
    """A validated config plus where it came from and what its text was."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: PipelineConfig
    path: Path
    text: str
    content_hash: str
    env_secrets: frozenset[str] = Field(default=frozenset(), repr=False)
    """Values the YAML took from the environment (`${VAR}`) and doesn't declare public: masked in every output."""

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def order_column(target: Target, columns: Iterable[str]) -> str | None:
    """The `order_by` column as the table spells it (matched case-insensitively), or None."""
    if not target.order_by:
        return None
    by_key = {name.lower(): name for name in columns}
    if target.order_by.strip().lower() not in by_key:
        raise PipelineError(f"target.order_by names a column the data does not have: {target.order_by!r}")
    return by_key[target.order_by.strip().lower()]


def key_columns(target: Target, columns: Iterable[str]) -> list[str]:
    """The primary key's column names as the table spells them (matched case-insensitively)."""
    by_key = {name.lower(): name for name in columns}
    missing = [k for k in target.primary_key if k.strip().lower() not in by_key]
    if missing:
        raise PipelineError(f"target.primary_key names columns the data does not have: {missing}")
    return [by_key[k.strip().lower()] for k in target.primary_key]


def column_rules(loaded: LoadedConfig) -> dict[str, ColumnRules]:
    """The declared columns that have rules to check, by name."""
    schema = loaded.config.schema_
    return {name: rules for name, rules in (schema.rules if schema else {}).items() if rules.checks_values}


def column_descriptions(loaded: LoadedConfig) -> dict[str, str]:
    """Each declared column's `description`, by name (for `dagster/column_schema`); columns without one are left out."""
    schema = loaded.config.schema_
    rules = schema.rules if schema else {}
    return {name: column.description for name, column in rules.items() if column.description}
