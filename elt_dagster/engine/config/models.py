"""The pipeline model: sources, target, schema, and the automation section, as typed pydantic models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from elt_dagster.engine.errors import StrictModel
from elt_dagster.engine.prefetch import usable_cores
from elt_dagster.engine.sources.api.models import ApiSource
from elt_dagster.engine.sources.encodings import known_encoding
from elt_dagster.engine.sources.objects.azure import AzureSource
from elt_dagster.engine.sources.objects.gcs import GcsSource
from elt_dagster.engine.sources.objects.s3 import S3Source
from elt_dagster.engine.sources.sheet_keys import SheetKeys

from .automation import AUTOMATION_KEYS, AUTOMATION_SECTION, Automation
from .columns import ColumnRules
from .partitions import Partitions, check_partitioned
from .schema import Schema
from .target import Target, check_snapshot

RESERVED_PIPELINE_NAMES = frozenset({"config_errors", "project_health"})
"""Asset key prefixes of the Dagster layer's own assets (broken configs, test coverage): no pipeline has them."""
_NOWHERE = Path("/nonexistent-elt-dagster-folder")


class LocalSource(SheetKeys):
    """Files on the local disk: one file, or the files of a folder that match `pattern`."""

    type: Literal["local"] = "local"
    path: str
    snapshot: bool = False
    """Its files together are the table's full current state: keys absent from them are deleted (`snapshot.py`)."""
    pattern: str | None = None
    """Which files of the folder: default `*`, or `**/*` (its subfolders too) in a partitioned pipeline."""
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str = "utf-8"
    records_path: str | None = None

    def named_files(self) -> tuple[str, ...]:
        """The path and the pattern: what says which files the source reads."""
        return (self.path, self.pattern or "")

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
        return known_encoding(value)

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


Source = Annotated[
    Annotated[LocalSource, Tag("local")]
    | Annotated[ApiSource, Tag("api")]
    | Annotated[S3Source, Tag("s3")]
    | Annotated[AzureSource, Tag("azure")]
    | Annotated[GcsSource, Tag("gcs")],
    Discriminator(_source_type),
]


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

    @field_validator("target")
    @classmethod
    def _snapshot_sources(cls, target: Target, info: ValidationInfo) -> Target:
        sources = info.data.get("sources") or []
        if any(source.snapshot for source in sources):
            check_snapshot(target, sources)
            target.read_as_snapshot()
        return target

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


def column_rules(loaded: LoadedConfig) -> dict[str, ColumnRules]:
    """The declared columns that have rules to check, by name."""
    schema = loaded.config.schema_
    return {name: rules for name, rules in (schema.rules if schema else {}).items() if rules.checks_values}


def column_descriptions(loaded: LoadedConfig) -> dict[str, str]:
    """Each declared column's `description`, by name (for `dagster/column_schema`); columns without one are left out."""
    schema = loaded.config.schema_
    rules = schema.rules if schema else {}
    return {name: column.description for name, column in rules.items() if column.description}
