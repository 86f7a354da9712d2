"""The `target:` section: the table, how rows are written into it (`mode`), deletes, and the connection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from elt_dagster.engine.errors import PipelineError, StrictModel
from elt_dagster.engine.names import OWN_TABLE_SUFFIXES, REJECTED_SUFFIX

from .schema import MAX_IDENTIFIER_BYTES, reject_limit_setting

BOOKKEEPING_SCHEMA = "elt"
"""The schema of elt-dagster's own tables in each target database (engine/state): no target table goes there."""
KEYED_MODES = ("merge", "scd2")
"""The modes that keep one current row per `primary_key`."""


class Target(StrictModel):
    """Where the rows go: a PostgreSQL table."""

    table: str = Field(min_length=1)
    db_schema: str = Field(default="public", min_length=1)
    mode: Literal["append", "merge", "scd2"] = "append"
    primary_key: list[str] = Field(default_factory=list)
    order_by: str | None = Field(default=None, min_length=1)
    delete_column: str | None = Field(default=None, min_length=1)
    """A column whose true value (true, t, 1, yes, y) in a source row deletes the row's key (merge and scd2)."""
    delete: Literal["soft", "hard"] = "soft"
    """How a key is deleted: soft keeps its row marked `_elt_deleted_at`; hard removes it (merge) or closes its
    version (scd2)."""
    max_deleted: int | str = "50%"
    """The most of the table's keys one snapshot may delete (a share or a count); past it the run stops unless
    it allows deletes (run config `allow_deletes`)."""
    _snapshot: bool = PrivateAttr(default=False)
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

    @field_validator("max_deleted", mode="before")
    @classmethod
    def _delete_limit(cls, value: Any) -> int | str:
        forms = 'a share of the table\'s keys such as "50%" (0 to 100) or a count of keys such as 1000'
        if value is None:
            raise ValueError(f"give {forms}")
        return reject_limit_setting(value, forms) or 0

    @model_validator(mode="after")
    def _keyed_modes_need_key(self) -> Target:
        if self.mode in KEYED_MODES and not self.primary_key:
            raise ValueError(f"mode {self.mode!r} needs a primary_key (a list of column names)")
        if self.order_by and self.mode not in KEYED_MODES:
            raise ValueError("order_by decides which row of a key wins in mode 'merge' or 'scd2'; this target appends")
        if self.delete_column and self.mode not in KEYED_MODES:
            raise ValueError("delete_column deletes keys: it needs mode 'merge' or 'scd2' (with a primary_key)")
        if self.url and (self.host or self.database):
            raise ValueError("give either url or host/port/database/user/password, not both")
        return self

    @property
    def keyed(self) -> bool:
        """Whether the table keeps one current row per key (merge and scd2 modes)."""
        return self.mode in KEYED_MODES

    @property
    def deletes_keys(self) -> bool:
        """Whether a load can delete keys: a delete column, or a snapshot source (set by the pipeline)."""
        return bool(self.delete_column) or self._snapshot

    @property
    def soft_deletes(self) -> bool:
        """Whether deleted keys stay, marked `_elt_deleted_at`."""
        return self.delete == "soft" and self.deletes_keys

    def read_as_snapshot(self) -> None:
        """The pipeline's source is a snapshot: keys absent from it are deleted."""
        self._snapshot = True


def order_column(target: Target, columns: Iterable[str]) -> str | None:
    """The `order_by` column as the table spells it (matched case-insensitively), or None."""
    if not target.order_by:
        return None
    by_key = {name.lower(): name for name in columns}
    if target.order_by.strip().lower() not in by_key:
        raise PipelineError(f"target.order_by names a column the data does not have: {target.order_by!r}")
    return by_key[target.order_by.strip().lower()]


def delete_flag_column(target: Target, columns: Iterable[str]) -> str | None:
    """The `delete_column` as the table spells it (matched case-insensitively), or None."""
    if not target.delete_column:
        return None
    by_key = {name.lower(): name for name in columns}
    if target.delete_column.strip().lower() not in by_key:
        raise PipelineError(f"target.delete_column names a column the data does not have: {target.delete_column!r}")
    return by_key[target.delete_column.strip().lower()]


def key_columns(target: Target, columns: Iterable[str]) -> list[str]:
    """The primary key's column names as the table spells them (matched case-insensitively)."""
    by_key = {name.lower(): name for name in columns}
    missing = [k for k in target.primary_key if k.strip().lower() not in by_key]
    if missing:
        raise PipelineError(f"target.primary_key names columns the data does not have: {missing}")
    return [by_key[k.strip().lower()] for k in target.primary_key]


def check_snapshot(target: Target, sources: list[Any]) -> None:
    """What a pipeline with a snapshot source needs: a key to delete by, and that source alone (the keys of any
    other source would be deleted as absent from the snapshot); an API snapshot is fetched whole (no cursor)."""
    if not target.keyed:
        raise ValueError("a snapshot source deletes the keys it lacks: it needs target.mode 'merge' or 'scd2'")
    if len(sources) > 1:
        raise ValueError(
            "a snapshot source is the table's full state: it must be the pipeline's only source (the rows of any "
            "other would be deleted as absent from it); give a snapshot split in files one folder and a pattern"
        )
    if getattr(sources[0], "incremental", None) is not None:
        raise ValueError("a snapshot API source is fetched whole each run: leave out `incremental`")
