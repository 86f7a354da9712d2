"""The pipeline model: defaults, options, the schema's types and the target's rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from elt_dagster.engine.config.target import BOOKKEEPING_SCHEMA
from elt_dagster.engine.load.tables import HASH_INDEX_SUFFIX, PK_INDEX_SUFFIX
from elt_dagster.engine.names import OWN_TABLE_SUFFIXES, REJECTED_SUFFIX
from elt_dagster.engine.state import schema as state_schema
from elt_dagster_tests.engine.config.yaml_files import SOURCES, config_error, load

# --- valid configs -----------------------------------------------------------------------------------


def test_valid_config_gets_defaults(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        SOURCES
        + """\
target:
  table: orders
schema:
  columns:
    id: integer
    customer: string
""",
        name="daily_orders",
    )
    config = loaded.config
    assert loaded.name == "daily_orders"
    assert config.name == "daily_orders"
    assert config.target.table == "orders"
    assert config.target.mode == "append"
    assert config.target.db_schema == "public"
    assert config.target.primary_key == []
    assert config.schema_ is not None
    assert config.schema_.strict_mode is False
    assert config.schema_.columns == {"id": "integer", "customer": "string"}
    source = config.sources[0]
    assert (
        source.type,
        source.file_pattern(partitioned=False),
        source.encoding,
        source.delimiter,
        source.records_path,
    ) == (
        "local",
        "*",
        "utf-8",
        None,
        None,
    )
    assert source.resolved_path(loaded.base_dir) == (tmp_path / "data").resolve()
    assert loaded.path == (tmp_path / "daily_orders.yaml").resolve()
    assert loaded.base_dir == tmp_path.resolve()


def test_schema_is_optional(tmp_path: Path) -> None:
    loaded = load(tmp_path, SOURCES + "target:\n  table: t\n")
    assert loaded.config.schema_ is None


def test_explicit_name_and_options_are_kept(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """\
name: nightly
sources:
  - type: local
    path: data
    pattern: "*.csv"
    delimiter: "|"
    encoding: latin-1
target:
  table: orders
  db_schema: staging
  mode: merge
  primary_key: [id]
schema:
  columns:
    id: bigint
  strict_mode: true
""",
    )
    config = loaded.config
    assert config.name == "nightly"
    assert (config.sources[0].pattern, config.sources[0].delimiter, config.sources[0].encoding) == (
        "*.csv",
        "|",
        "latin-1",
    )
    assert (config.target.db_schema, config.target.mode, config.target.primary_key) == ("staging", "merge", ["id"])
    assert config.schema_ is not None and config.schema_.strict_mode is True


# --- schema ------------------------------------------------------------------------------------------


def test_unknown_column_type_names_columns_and_type(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path,
        SOURCES
        + """\
target:
  table: t
schema:
  columns:
    id: integer
    amount: money
""",
    )
    assert "schema.columns (line 7)" in message
    assert "column 'amount': unknown type 'money'" in message
    assert "known: " in message and "timestamptz" in message


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("int", "integer"),
        ("integer", "integer"),
        ("bigint", "bigint"),
        ("text", "string"),
        ("string", "string"),
        ("datetime", "timestamp"),
        ("timestamp", "timestamp"),
        ("timestamptz", "timestamptz"),
        ("numeric", "decimal"),
        ("decimal", "decimal"),
        ("bool", "boolean"),
        ("boolean", "boolean"),
        ("float", "float"),
        ("date", "date"),
        ("json", "json"),
        ("INT", "integer"),
        ("' Text '", "string"),
    ],
)
def test_type_aliases_map_to_canonical_names(tmp_path: Path, written: str, canonical: str) -> None:
    loaded = load(tmp_path, SOURCES + f"target:\n  table: t\nschema:\n  columns:\n    value: {written}\n")
    assert loaded.config.schema_ is not None
    assert loaded.config.schema_.columns == {"value": canonical}


@pytest.mark.parametrize("column", ["_elt_source", "_ELT_row_hash", "_elt_x"])
def test_reserved_column_names_are_rejected(tmp_path: Path, column: str) -> None:
    message, _ = config_error(
        tmp_path, SOURCES + f"target:\n  table: t\nschema:\n  columns:\n    id: integer\n    {column}: string\n"
    )
    assert f"schema.columns (line 7): column {column!r}: names starting with '_elt_' are reserved" in message


def test_column_declared_twice_case_insensitively(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path, SOURCES + "target:\n  table: t\nschema:\n  columns:\n    id: integer\n    ID: string\n"
    )
    assert "column 'ID' is declared twice" in message


# --- target ------------------------------------------------------------------------------------------


def test_merge_without_primary_key(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, SOURCES + "target:\n  table: t\n  mode: merge\n")
    assert "target (line 4): mode 'merge' needs a primary_key" in message


def test_primary_key_must_be_a_declared_column(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path,
        SOURCES
        + """\
target:
  table: t
  mode: merge
  primary_key: [order_id]
schema:
  columns:
    id: integer
""",
    )
    assert "target.primary_key (line 7): names undeclared columns ['order_id']" in message


def test_primary_key_matches_declared_columns_case_insensitively(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        SOURCES + "target:\n  table: t\n  mode: merge\n  primary_key: [ID]\nschema:\n  columns:\n    id: integer\n",
    )
    assert loaded.config.target.primary_key == ["ID"]


def test_undeclared_primary_key_error_points_at_its_line(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path,
        SOURCES
        + "target:\n  table: t\n  mode: merge\n  primary_key: [order_id]\nschema:\n  columns:\n    id: integer\n",
    )
    assert "target.primary_key (line 7)" in message


# --- reserved names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ("elt", "schema 'elt' is reserved: elt-dagster keeps its own tables there"),
        ("ELT", "schema 'ELT' is reserved: elt-dagster keeps its own tables there"),
        ("pg_catalog", "schema 'pg_catalog' is reserved by PostgreSQL"),
        ("information_schema", "schema 'information_schema' is reserved by PostgreSQL"),
    ],
)
def test_a_target_in_a_reserved_schema_is_refused_at_its_line(tmp_path: Path, schema: str, expected: str) -> None:
    message, _ = config_error(tmp_path, SOURCES + f"target:\n  table: config_history\n  db_schema: {schema}\n")
    assert f"target.db_schema (line 6): {expected}" in message


@pytest.mark.parametrize("table", ["orders__rejected", "orders__row_hash", "orders__pk"])
def test_a_table_named_like_an_object_beside_another_table_is_refused(tmp_path: Path, table: str) -> None:
    message, _ = config_error(tmp_path, SOURCES + f"target:\n  table: {table}\n")
    assert f"target.table (line 5): {table!r} ends in" in message and "quarantine table" in message


@pytest.mark.parametrize("table", ["config_history", "extracted", "validated", "file_fingerprints", "rejected"])
def test_bookkeeping_names_are_fine_as_tables_outside_the_bookkeeping_schema(tmp_path: Path, table: str) -> None:
    assert load(tmp_path, SOURCES + f"target:\n  table: {table}\n").config.target.table == table


@pytest.mark.parametrize("name", ["config_errors", "project_health"])
def test_the_dagster_layers_own_asset_prefixes_are_no_pipeline_names(tmp_path: Path, name: str) -> None:
    message, _ = config_error(tmp_path, f"name: {name}\n" + SOURCES + "target:\n  table: t\n")
    assert f"name (line 1): {name!r} is reserved" in message


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/etc/*.csv", "'/etc/*.csv' is absolute: a pattern picks files inside `path`; put the folder in `path`"),
        ("//srv/x.csv", "'//srv/x.csv' is absolute"),
        ("", "'' is not a file pattern"),
        (".", "'.' is not a file pattern (it names no files)"),
        ("a/**b", "'a/**b' is not a file pattern (Invalid pattern"),
    ],
)
def test_a_pattern_glob_cannot_use_is_refused_at_its_line(tmp_path: Path, pattern: str, expected: str) -> None:
    message, _ = config_error(tmp_path, SOURCES + f'    pattern: "{pattern}"\ntarget:\n  table: t\n')
    assert f"sources[0].pattern (line 4): {expected}" in message


def test_the_reserved_names_are_the_ones_the_engine_creates() -> None:
    assert set(OWN_TABLE_SUFFIXES) == {REJECTED_SUFFIX, HASH_INDEX_SUFFIX, PK_INDEX_SUFFIX}
    assert f"CREATE SCHEMA IF NOT EXISTS {BOOKKEEPING_SCHEMA};" in state_schema._DDL


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_the_default_workers_are_the_cores_this_process_may_use_not_the_machines() -> None:
    """A container limited to one core (its cpuset: the process's affinity) gets one worker, whatever the host has."""
    probe = (
        "import os\nos.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from pathlib import Path\nfrom elt_dagster.engine.config import parse_config\n"
        "loaded = parse_config('sources:\\n  - type: local\\n    path: .\\ntarget:\\n  table: t\\n', Path('p.yaml'))\n"
        "print(loaded.config.worker_count)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1"
