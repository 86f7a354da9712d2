"""Pipeline configuration: one YAML file per pipeline, parsed into typed pydantic models.

Every error is a `ConfigError` that names the file, the key path (e.g. `sources[1].path`) and, where the
YAML tells it, the line and column.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from elt_dagster.engine.errors import PipelineError, StrictModel
from elt_dagster.engine.sources.api.models import ApiSource

COLUMN_TYPES: dict[str, str] = {
    "integer": "integer",
    "int": "integer",
    "bigint": "bigint",
    "float": "float",
    "decimal": "decimal",
    "numeric": "decimal",
    "string": "string",
    "text": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "datetime": "timestamp",
    "timestamptz": "timestamptz",
    "json": "json",
}
"""Accepted type names in `schema.columns`, mapped to their canonical name."""

RESERVED_PREFIX = "_elt_"
MAX_IDENTIFIER_BYTES = 63
REJECTED_SUFFIX = "__rejected"
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(PipelineError):
    """A pipeline YAML that can't be used; the message says which file, key and line."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{self.path}: " + "; ".join(problems))


class LocalSource(StrictModel):
    """Files on the local disk: one file, or the files of a folder that match `pattern`."""

    type: Literal["local"] = "local"
    path: str
    pattern: str = "*"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str = "utf-8"
    records_path: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, utf-8-sig, latin-1, cp1252)") from None
        return value

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

    @model_validator(mode="after")
    def _merge_needs_key(self) -> Target:
        if self.mode == "merge" and not self.primary_key:
            raise ValueError("mode 'merge' needs a primary_key (a list of column names)")
        if self.url and (self.host or self.database):
            raise ValueError("give either url or host/port/database/user/password, not both")
        return self


class Schema(StrictModel):
    """Declared columns and their types; `strict_mode` keeps only these columns."""

    columns: dict[str, str] = Field(default_factory=dict)
    strict_mode: bool = False

    @field_validator("columns")
    @classmethod
    def _known_types(cls, columns: dict[str, str]) -> dict[str, str]:
        canonical: dict[str, str] = {}
        seen: set[str] = set()
        for raw_name, raw_type in columns.items():
            name = str(raw_name).strip()
            type_name = str(raw_type).strip().lower()
            if not name:
                raise ValueError("a column name is empty")
            if name.lower().startswith(RESERVED_PREFIX):
                raise ValueError(f"column {name!r}: names starting with {RESERVED_PREFIX!r} are reserved")
            if name.lower() in seen:
                raise ValueError(f"column {name!r} is declared twice (names match case-insensitively)")
            if type_name not in COLUMN_TYPES:
                known = ", ".join(sorted(COLUMN_TYPES))
                raise ValueError(f"column {name!r}: unknown type {raw_type!r} (known: {known})")
            seen.add(name.lower())
            canonical[name] = COLUMN_TYPES[type_name]
        return canonical


CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
WINDOW_DEFAULT_CRON = "0 * * * *"
"""A window without a schedule runs hourly inside it, as in the original design."""


def _is_valid_cron(cron: str) -> bool:
    from dagster._utils.schedules import is_valid_cron_string  # the same check Dagster applies

    return is_valid_cron_string(cron)


def _parse_time(value: str, zone: ZoneInfo) -> datetime:
    """`YYYY-MM-DD HH:MM` or ISO 8601; a time without an offset is in the pipeline's timezone."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a time: use 'YYYY-MM-DD HH:MM' or ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


class PipelineConfig(StrictModel):
    """One pipeline: where the data comes from, how it is checked, where it goes, and when it runs."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    sources: list[Source] = Field(min_length=1)
    target: Target
    schema_: Schema | None = Field(default=None, alias="schema")
    monitor_interval_seconds: int = Field(default=60, ge=5, le=86_400)
    schedule: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    timezone: str = "UTC"
    max_rejected_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    rejected_ratio_severity: Literal["warn", "error"] = "warn"

    @field_validator("start_time", "end_time")
    @classmethod
    def _valid_time(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_time(value, ZoneInfo("UTC"))
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cron = CRON_ALIASES.get(value.strip().lower(), value.strip())
        if len(cron.split()) != 5 or not _is_valid_cron(cron):
            raise ValueError(f"{value!r} is not a cron expression (e.g. '*/15 * * * *' or '@hourly')")
        return cron

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """(start, end) as aware datetimes, either may be None."""
        zone = self.zone
        start = _parse_time(self.start_time, zone) if self.start_time else None
        end = _parse_time(self.end_time, zone) if self.end_time else None
        return start, end

    def window_problem(self, moment: datetime) -> str | None:
        """Why `moment` is outside the start/end window, or None when it is inside."""
        start, end = self.window()
        # Compared in UTC: aware datetimes sharing one tzinfo compare by wall clock, which is wrong on DST days.
        instant = moment.astimezone(UTC)
        if start and instant < start.astimezone(UTC):
            return f"before start_time {start.isoformat()}"
        if end and instant >= end.astimezone(UTC):
            return f"after end_time {end.isoformat()}"
        return None

    @property
    def cron(self) -> str | None:
        """The schedule's cron, hourly when only a window is given; None: no schedule."""
        if self.schedule:
            return self.schedule
        return WINDOW_DEFAULT_CRON if (self.start_time or self.end_time) else None

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

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def load_config(path: Path | str) -> LoadedConfig:
    """Read, substitute `${VAR}` / `${VAR:-default}` and validate one pipeline YAML file."""
    path = Path(path).expanduser().resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"can't read the file: {exc.strerror or exc}"]) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> LoadedConfig:
    """Validate YAML text as the pipeline config stored at `path`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, [f"YAML syntax error at {where}{exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"YAML error: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, ["the file must be a mapping with at least `sources` and `target`"])
    data = _substitute_env(data, (), path, root)
    data.setdefault("name", default_pipeline_name(path))
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(error, root) for error in exc.errors()]) from None
    start, end = config.window()
    if start and end and end <= start:
        loc = ("end_time",)
        message = f"end_time ({config.end_time}) must be after start_time ({config.start_time})"
        raise ConfigError(path, [f"{format_loc(loc)}{_where(loc, root)}: {message}"])
    undeclared = config.undeclared_key_columns()
    if undeclared:
        loc = ("target", "primary_key")
        raise ConfigError(path, [f"{format_loc(loc)}{_where(loc, root)}: names undeclared columns {undeclared}"])
    for index, source in enumerate(config.sources):
        if not isinstance(source, LocalSource):
            continue
        resolved = source.resolved_path(path.parent)
        if not resolved.exists():
            where = _where((("sources", index, "path")), root)
            raise ConfigError(path, [f"sources[{index}].path{where}: {resolved} does not exist"])
    content_hash = hashlib.sha256(text.encode()).hexdigest()
    return LoadedConfig(config=config, path=path, text=text, content_hash=content_hash)


def default_pipeline_name(path: Path) -> str:
    """The file's stem made a valid pipeline name: `my-orders.yaml` -> `my_orders`."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    return name if name[:1].isalpha() else f"p_{name}"


def _substitute_env(value: Any, loc: tuple[Any, ...], path: Path, root: yaml.Node | None) -> Any:
    if isinstance(value, dict):
        return {key: _substitute_env(item, (*loc, key), path, root) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute_env(item, (*loc, index), path, root) for index, item in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is not None and (found or default is None):
            return found
        if default is not None:
            return default
        raise ConfigError(path, [f"{format_loc(loc)}{_where(loc, root)}: environment variable {name} is not set"])

    return _ENV_PATTERN.sub(replace, value)


def format_loc(loc: tuple[Any, ...]) -> str:
    """`("sources", 1, "path")` -> `sources[1].path`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _describe(error: dict[str, Any], root: yaml.Node | None) -> str:
    loc = _user_loc(error["loc"], root)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see the README's YAML reference)"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "union_tag_invalid":
        context = error.get("ctx", {})
        message = f"unknown type {context.get('tag')!r} (known: {context.get('expected_tags')})"
    return f"{format_loc(loc)}{_where(loc, root)}: {message}"


def _user_loc(loc: tuple[Any, ...], root: yaml.Node | None) -> tuple[Any, ...]:
    """pydantic puts a union member's tag ("api", "bearer", ...) into the path; users never wrote it there."""
    kept: list[Any] = []
    node: Any = root
    for part in loc:
        child = _child(node, part)
        if child is None and isinstance(part, str) and isinstance(node, yaml.MappingNode) and _child(node, "type"):
            continue  # a tag: the mapping has a `type` key instead
        kept.append(part)
        node = child
    return tuple(kept)


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        return next((value for key, value in node.value if key.value == part), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def _where(loc: tuple[Any, ...], root: yaml.Node | None) -> str:
    """` (line N)` for the key (or list item) at `loc`, or the nearest parent that exists."""
    node, found = root, root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((key, value) for key, value in node.value if key.value == part), None)
            if pair is None:
                break
            found, node = pair
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node = node.value[part]
        else:
            break
    return f" (line {found.start_mark.line + 1})" if found is not None else ""


def key_columns(target: Target, columns: Iterable[str]) -> list[str]:
    """The primary key's column names as the table spells them (matched case-insensitively)."""
    by_key = {name.lower(): name for name in columns}
    missing = [k for k in target.primary_key if k.strip().lower() not in by_key]
    if missing:
        raise PipelineError(f"target.primary_key names columns the data does not have: {missing}")
    return [by_key[k.strip().lower()] for k in target.primary_key]


def discover_configs(config_dir: Path) -> list[Path]:
    """The pipeline YAML files in a folder, in name order."""
    return sorted(p for p in config_dir.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and p.is_file())
