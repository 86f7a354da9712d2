"""elt-dagster's own names in the database: the `_elt_*` bookkeeping columns, scratch tables and table suffixes.

Every module takes these names from here (no heavy import, so `config/` and `cli/` can use it too); SQL formats
them in as text, so each statement reads as it did when the names were typed by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from elt_dagster.engine.config import Target

RESERVED_PREFIX = "_elt_"
"""Column names starting so are elt-dagster's own; a pipeline may not declare one."""

HASH_COLUMN = "_elt_row_hash"
"""The row's hash of its business columns (uuid): what append mode deduplicates on."""
SOURCE_COLUMN = "_elt_source"
"""The file path or URL a row came from (credentials masked)."""
RUN_ID_COLUMN = "_elt_run_id"
"""The Dagster run (or CLI run) that loaded the row."""
LOADED_AT_COLUMN = "_elt_loaded_at"
"""When the row was inserted or last updated."""
PARTITION_COLUMN = "_elt_partition"
"""The partition a row belongs to (partitioned pipelines only): each partition is replaced as a whole."""
PARTITION_KEY = "partition_key"
"""The quarantine table's column of a record's partition (partitioned pipelines only)."""
VALID_FROM_COLUMN = "_elt_valid_from"
"""When a version of a key began to hold (scd2 mode): its `order_by` value, else the load's time."""
VALID_TO_COLUMN = "_elt_valid_to"
"""When a version of a key stopped holding (scd2 mode): NULL for the current version."""
DELETED_AT_COLUMN = "_elt_deleted_at"
"""When a key was deleted (soft deletes): the row stays, marked."""
SOURCE_ROW_COLUMN = "_elt_source_row"
"""A row's position in its source (staging only, never stored in the target)."""
SEQ_COLUMN = "_elt_seq"
"""A staged row's position in the run (staging only): "the last one read wins"."""

OWN_COLUMNS = frozenset(
    {
        HASH_COLUMN,
        SOURCE_COLUMN,
        RUN_ID_COLUMN,
        LOADED_AT_COLUMN,
        PARTITION_COLUMN,
        VALID_FROM_COLUMN,
        VALID_TO_COLUMN,
        DELETED_AT_COLUMN,
    }
)
"""The columns elt-dagster adds to target tables (the last three by mode and deletes)."""

STAGE_TABLE = "_elt_stage"
REJECTS_STAGE_TABLE = "_elt_rejects_stage"
WINNERS_TABLE = "_elt_winners"
SEEN_TABLE = "_elt_seen"
"""Temporary tables of one load (dropped at commit)."""

REJECTED_SUFFIX = "__rejected"
"""`<table>__rejected`: the quarantine table."""
HASH_INDEX_SUFFIX = "__row_hash"
"""`<table>__row_hash`: the unique index on `_elt_row_hash` (partitioned: on `_elt_partition, _elt_row_hash`)."""
PK_INDEX_SUFFIX = "__pk"
"""`<table>__pk`: the unique index on a merge table's key."""
CURRENT_VIEW_SUFFIX = "_current"
"""`<table>_current`: the view of an scd2 table's current versions."""
OWN_TABLE_SUFFIXES = (REJECTED_SUFFIX, HASH_INDEX_SUFFIX, PK_INDEX_SUFFIX)


def qualified_name(target: Target, suffix: str = "") -> str:
    """`<db_schema>.<table><suffix>` of `target`, as messages and tags show it (unquoted)."""
    return f"{target.db_schema}.{target.table}{suffix}"
