"""The column-type registry: every record complete, the only place a type is named, open to a new type."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from elt_dagster.engine import types
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.transform.patterns import INTEGER_TEXT
from elt_dagster.engine.types import ALL_RULES, BINARY_KINDS, ORDERED_RULES, TYPES, ColumnType, standardizer
from elt_dagster_tests.conftest import fetch, write

PACKAGE = Path(types.__file__).resolve().parents[1]
OPTIONAL_FIELDS = {"out_of_range"}
"""Fields a type may leave empty: a type without a range (text, json, boolean) has no out-of-range reason."""

NOT_COLUMN_TYPES = {
    ("orchestration/reporting.py", "int"): "a Dagster TableColumn type in the files table's metadata",
    ("engine/load/quarantine.py", "text"): "the quarantine table's own PostgreSQL column types (COPY set_types)",
    ("engine/sources/api/models.py", "json"): "the YAML key of an API request body",
    ("engine/sources/files/json_records.py", "string"): "a JSON value kind, named in a reader's message",
    ("engine/sources/files/json_records.py", "boolean"): "a JSON value kind, named in a reader's message",
    ("cli/rejects.py", "json"): "an output format of `elt-dagster rejects`",
}
"""Quoted words that spell a registered type but mean something else, each with why it stays."""


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_registered_type_has_each_field(name: str) -> None:
    column_type = TYPES[name]
    assert column_type.name == name
    for field in fields(ColumnType):
        if field.name not in OPTIONAL_FIELDS and field.type not in ("bool", "frozenset[str]", "tuple[str, ...]"):
            assert getattr(column_type, field.name), f"{name}: {field.name} is empty"
    assert isinstance(column_type.arrow_type(), pa.DataType)
    assert column_type.binary in BINARY_KINDS
    assert column_type.rules <= set(ALL_RULES)
    if column_type.out_of_range is not None:
        pattern, reason = column_type.out_of_range
        re.compile(pattern)
        assert reason.startswith("is ")
    canonical, failed = column_type.standardize(pa.array(["", None], pa.string()))
    assert canonical.to_pylist() == [None, None] and failed.to_pylist() == [False, False]


def test_every_spelling_names_one_type() -> None:
    spellings = types.known_spellings()
    assert len(spellings) == len(set(spellings))
    assert types.find(" Int ") is types.INTEGER and types.find("datetime") is types.TIMESTAMP
    assert types.find("smallint") is None


def test_postgresql_spells_each_type_as_its_record_says(database_url: str, db_schema: str) -> None:
    """`pg_format` is what the table reports (stored types, the columns check): PostgreSQL itself says so."""
    columns = ", ".join(f'"{t.name}" {t.pg_type}' for t in TYPES.values())
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{db_schema}"')
        conn.execute(f'CREATE TABLE "{db_schema}".t ({columns})')
    reported = fetch(
        database_url,
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0",
        f'"{db_schema}".t',
    )
    assert dict(reported) == {t.name: t.pg_format for t in TYPES.values()}


def test_no_module_but_the_registry_names_a_type() -> None:
    alternatives = "|".join(map(re.escape, types.known_spellings()))
    spelled = re.compile(rf"""["']({alternatives})["']""")
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "engine/types.py":
            continue
        found |= {(relative, match.group(1)) for match in spelled.finditer(path.read_text(encoding="utf-8"))}
    assert found == set(NOT_COLUMN_TYPES)


SMALLINT = ColumnType(
    "smallint", ("int2",), "smallint", "smallint", "an integer (16-bit)", standardizer("standardize_integer", bits=16),
    ("int16",), "cast", ORDERED_RULES, (INTEGER_TEXT, "is out of range for an integer (16-bit)"), integer_key=True,
)  # fmt: skip


def test_a_type_added_as_one_record_loads_end_to_end(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `smallint` registered here, nowhere else: read through an alias, ruled, merged on, stored as smallint."""
    monkeypatch.setitem(TYPES, SMALLINT.name, SMALLINT)
    write(tmp_path / "data" / "a.csv", "id,qty\n1, 5\n2,40000\n3,-1\n4,007\n")
    loaded = make_pipeline(
        """
        sources:
          - type: local
            path: ../data
        target:
          table: stock
          db_schema: {schema}
          mode: merge
          primary_key: [id]
        schema:
          columns:
            id: INT2
            qty: {type: smallint, min: 0}
        """
    )
    assert loaded.config.schema_.columns == {"id": "smallint", "qty": "smallint"}
    report = run_pipeline(loaded, run_id="first")
    assert (report.inserted, report.rejected) == (2, 2)
    rows = fetch(database_url, f'SELECT id, qty, pg_typeof(qty)::text FROM "{db_schema}".stock ORDER BY id')
    assert rows == [(1, 5, "smallint"), (4, 7, "smallint")]
    reasons = fetch(database_url, f'SELECT reason FROM "{db_schema}".stock__rejected ORDER BY source_row')
    assert reasons == [
        ("column 'qty': '40000' is out of range for an integer (16-bit)",),
        ("column 'qty': -1 is below min 0",),
    ]
    write(tmp_path / "data" / "b.csv", "id,qty\n1,6\n")
    report = run_pipeline(loaded, run_id="second")
    assert (report.inserted, report.updated) == (0, 1)
    assert fetch(database_url, f'SELECT id, qty FROM "{db_schema}".stock ORDER BY id') == [(1, 6), (4, 7)]
