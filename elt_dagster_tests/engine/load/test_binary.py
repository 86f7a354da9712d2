"""Binary COPY stores exactly what CSV COPY stores, for every column type; batches it can't type exactly fall back."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from elt_dagster.engine.load import binary as binary_module
from elt_dagster.engine.load.binary import copy_data
from elt_dagster.engine.load.copy import CopyData, copy_rows, to_csv
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.transform.validate import HASH_COLUMN, check_batch, hashes_as_hex, with_hex_hashes
from elt_dagster.engine.types import TYPES as REGISTRY
from elt_dagster_tests.conftest import fetch, write

TYPES = {
    "i": "integer",
    "b": "bigint",
    "f": "float",
    "d": "decimal",
    "t": "boolean",
    "dt": "date",
    "ts": "timestamp",
    "tz": "timestamptz",
    "j": "json",
    "s": "string",
}
VALUES = {
    "i": ["1", " 42 ", "-2147483648", None],
    "b": ["9223372036854775807", "1", "-9223372036854775808", None],
    "f": ["1.5", "NaN", "-inf", "1e308"],
    "d": ["12.50", "-0.25", "99999999999999999999999999999999999.00", None],
    "t": ["yes", "false", "1", None],
    "dt": ["2024-01-31", "9999-12-31", "0001-01-01", None],
    "ts": ["2024-01-01 10:00:00.123456", "2024-01-01T10:00", "2024-01-01", None],
    "tz": ["2024-01-01 10:00:00+02:00", "2024-01-01T10:00Z", "1970-01-01 00:00", None],
    "j": ['{"a": 1, "b": [1.10, "x"]}', "[1,2]", '"text"', None],
    "s": ["x", "", 'ünïcode "quoted", with\nline', None],
}


def canonical(values: dict[str, list[str | None]]) -> pa.Table:
    rows = len(next(iter(values.values())))
    batch = pa.table(
        {
            **{name: pa.array(column, pa.string()) for name, column in values.items()},
            "_elt_source": pa.array(["f"] * rows),
            "_elt_source_row": pa.array(range(rows), pa.int64()),
        }
    )
    checked = check_batch(batch, {name: TYPES[name] for name in values}, [])
    assert not checked.rejects
    return checked.rows


def stored(conn: psycopg.Connection, types: dict[str, str], data: CopyData, names: list[str]) -> list[tuple]:
    table = sql.Identifier(f"copy_{uuid.uuid4().hex[:8]}")
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(REGISTRY[t].pg_type)) for n, t in types.items()
    )
    conn.execute(sql.SQL("CREATE TEMP TABLE {} ({}, {} uuid)").format(table, columns, sql.Identifier(HASH_COLUMN)))
    copy_rows(conn, table, names, [data])
    return conn.execute(sql.SQL("SELECT t::text FROM {} t ORDER BY ctid").format(table)).fetchall()


def test_every_type_stores_the_same_through_binary_and_csv(database_url: str) -> None:
    rows = canonical(VALUES)
    binary = copy_data(rows, TYPES)
    assert binary.binary
    with psycopg.connect(database_url) as conn:
        through_binary = stored(conn, TYPES, binary, rows.column_names)
        through_csv = stored(conn, TYPES, CopyData((to_csv(with_hex_hashes(rows)),)), rows.column_names)
    assert through_binary == through_csv


@pytest.mark.parametrize(
    ("decimals", "binary"),
    [
        (["12.5", "12.50", "-0.001", "100000", "0", "-99999999.99999999"], True),
        (["1" * 70, "1"], False),  # wider than 64 digits: CSV
    ],
    ids=["own scale each", "too wide for binary"],
)
def test_decimals_keep_their_digits_and_scale_either_way(
    database_url: str, decimals: list[str | None], binary: bool
) -> None:
    rows = canonical({"d": decimals})
    data = copy_data(rows, TYPES)
    assert data.binary is binary
    with psycopg.connect(database_url) as conn:
        through = stored(conn, {"d": "decimal"}, data, rows.column_names)
        through_csv = stored(conn, {"d": "decimal"}, CopyData((to_csv(with_hex_hashes(rows)),)), rows.column_names)
    assert through == through_csv
    assert [text.strip("()").split(",")[0] for (text,) in through][:2] == [decimals[0], "12.5" if binary else "1"]


@pytest.mark.parametrize(
    "decimals",
    [
        ["12.5", "-0.001", "100000", "0", "-99999999.99999999", "0.0001", "7", "-12345678901234.5678"],
        ["123456789012345678", "-1", "0.5"],  # 18 digits: the most the arithmetic takes
        [f"{n // 1000}.{n % 1000:03d}".rstrip("0").rstrip(".") for n in range(-5000, 5000, 7)],
    ],
    ids=["mixed scales", "widest", "many"],
)
def test_decimal_digits_by_arithmetic_are_those_read_digit_by_digit(
    decimals: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = canonical({"d": decimals})
    by_arithmetic = copy_data(rows, TYPES)
    monkeypatch.setattr(binary_module, "_INT64_DIGITS", 0)  # every batch read digit by digit
    by_position = copy_data(rows, TYPES)
    assert by_arithmetic.binary and by_position.binary
    assert by_arithmetic.parts == by_position.parts


def test_16_byte_hashes_as_hex_text() -> None:
    hashes = pa.array([bytes(range(15)) + b"\xff", b"\xff" * 16], pa.binary(16))
    assert hashes_as_hex(hashes.slice(1)).to_pylist() == ["f" * 32]
    assert hashes_as_hex(hashes).to_pylist() == ["000102030405060708090a0b0c0d0eff", "f" * 32]
    assert hashes_as_hex(pa.chunked_array([hashes.slice(1), hashes.slice(0, 1)])).to_pylist()[1].startswith("0001")


def test_values_the_table_s_type_can_t_take_and_unknown_types_go_as_csv() -> None:
    rows = canonical({"d": ["9.5"]})
    assert not copy_data(rows, {"d": "integer"}).binary  # PostgreSQL then refuses it with its own message
    assert not copy_data(rows, {"d": "other"}).binary  # a column someone altered to a type we don't create


def test_a_column_widened_in_the_yaml_loads_by_its_new_type(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """integer -> decimal in the YAML: the stored column is widened first (issue 24), so the binary COPY of the
    next rows is the new type's, and the stored values are kept."""
    write(tmp_path / "data" / "a.csv", "id,amount\n1,7\n")
    body = "sources:\n  - path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\nschema:\n  columns:\n"
    run_pipeline(make_pipeline(body + "    amount: integer\n"))
    write(tmp_path / "data" / "b.csv", "id,amount\n2,1.5\n")
    assert run_pipeline(make_pipeline(body + "    amount: decimal\n")).inserted == 1
    assert fetch(database_url, f'SELECT amount::text FROM "{db_schema}".t ORDER BY id') == [("7",), ("1.5",)]
