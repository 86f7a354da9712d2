"""Parquet files: every Arrow type through a real load into PostgreSQL, declared types checked and quarantined as for
CSV, a pipeline without `schema` taking the Parquet schema's types, nested values as json, broken files as one
line, and large files streamed by batches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.files.columns import ColumnMapper
from elt_dagster.engine.sources.files.parquet import as_text, iter_parquet, parquet_columns
from elt_dagster.engine.sources.files.readers import BATCH_ROWS, ExtractError, file_format
from elt_dagster_tests.conftest import write

PARIS = dt.timezone(dt.timedelta(hours=1))


def every_type() -> pa.Table:
    """Two rows of each Arrow type a Parquet file holds; the second row all NULL (but `id`)."""
    return pa.table(
        {
            "id": pa.array([1, 2], pa.int32()),
            "small": pa.array([-7, None], pa.int16()),
            "big": pa.array([9_007_199_254_740_993, None], pa.int64()),
            "huge": pa.array([2**64 - 1, None], pa.uint64()),
            "ratio": pa.array([0.1, None], pa.float32()),
            "amount": pa.array([Decimal("12.50"), None], pa.decimal128(10, 2)),
            "active": pa.array([True, None]),
            "day": pa.array([dt.date(2024, 2, 29), None]),
            "at": pa.array([dt.datetime(2024, 1, 3, 9, 15, 0, 123456), None], pa.timestamp("ns")),
            "at_zone": pa.array(
                [dt.datetime(2024, 1, 3, 8, 15, tzinfo=dt.UTC), None], pa.timestamp("us", "Europe/Paris")
            ),
            "name": pa.array(["Zoë", None], pa.large_string()),
            "raw": pa.array([b"\x00\xff", None]),
            "tags": pa.array([["a", "b"], None]),
            "address": pa.array([{"city": "Köln", "zip": 50667}, None]),
            "attributes": pa.array([[("k", 1.5)], None], pa.map_(pa.string(), pa.float64())),
            "status": pa.array(["open", None]).dictionary_encode(),
        }
    )


DECLARED = {
    "id": "integer", "small": "integer", "big": "bigint", "huge": "decimal", "ratio": "float", "amount": "decimal",
    "active": "boolean", "day": "date", "at": "timestamp", "at_zone": "timestamptz", "name": "string",
    "raw": "string", "tags": "json", "address": "json", "attributes": "json", "status": "string",
}  # fmt: skip

STORED_TEXT = {
    "id": "1", "small": "-7", "big": "9007199254740993", "huge": "18446744073709551615", "ratio": "0.1",
    "amount": "12.5", "active": "true", "day": "2024-02-29", "at": "2024-01-03 09:15:00.123456",
    "at_zone": "2024-01-03 08:15:00+00", "name": "Zoë", "raw": "00ff", "tags": '["a", "b"]',
    "address": '{"zip": 50667, "city": "Köln"}', "attributes": '{"k": 1.5}', "status": "open",
}  # fmt: skip
"""Row 1 as PostgreSQL shows it (`::text`, the session in UTC)."""

PG_TYPES = {
    "integer": "integer", "bigint": "bigint", "decimal": "numeric", "float": "double precision", "string": "text",
    "boolean": "boolean", "date": "date", "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone", "json": "jsonb",
}  # fmt: skip


def parquet(tmp_path: Path, name: str, table: pa.Table, **options: object) -> Path:
    """`table` written as `tmp_path/data/<name>`."""
    path = tmp_path / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **options)
    return path


def yaml(columns: dict[str, str] | None) -> str:
    body = "sources:\n  - path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n"
    if columns is None:
        return body
    return body + "schema:\n  columns:\n" + "".join(f"    {name}: {kind}\n" for name, kind in columns.items())


def stored(database_url: str, db_schema: str, table: str = "t") -> tuple[dict[str, str], list[dict[str, str | None]]]:
    """The table's column types and its rows as text (own columns left out), ordered by id."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = %s AND column_name NOT LIKE '\\_elt\\_%%'",
                (db_schema, table),
            ).fetchall()
        )
        names = ", ".join(f'"{name}"::text AS "{name}"' for name in types)
        cursor = conn.execute(f'SELECT {names} FROM "{db_schema}"."{table}" ORDER BY id')
        rows = [dict(zip([c.name for c in cursor.description], row, strict=True)) for row in cursor.fetchall()]
    return types, rows


def rejects(database_url: str, db_schema: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            f'SELECT source_row, column_name, reason, source FROM "{db_schema}".t__rejected ORDER BY source_row'
        ).fetchall()


def test_every_type_loads_with_a_declared_schema(tmp_path: Path, make_pipeline, database_url: str, db_schema: str):
    parquet(tmp_path, "a.parquet", every_type())
    report = run_pipeline(make_pipeline(yaml(DECLARED)))
    assert (report.inserted, report.invalid) == (2, 0)
    types, rows = stored(database_url, db_schema)
    assert types == {name: PG_TYPES[kind] for name, kind in DECLARED.items()}
    assert rows[0] == STORED_TEXT
    assert rows[1] == {name: ("2" if name == "id" else None) for name in DECLARED}


def test_without_a_schema_the_parquet_types_are_the_columns_types(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
):
    parquet(tmp_path, "a.parquet", every_type())
    report = run_pipeline(make_pipeline(yaml(None)))
    assert (report.inserted, report.invalid) == (2, 0)
    types, rows = stored(database_url, db_schema)
    assert types == {name: PG_TYPES[kind] for name, kind in DECLARED.items()}
    assert rows[0] == STORED_TEXT


def test_a_bad_value_for_a_declared_type_is_quarantined_with_its_row(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
):
    path = parquet(tmp_path, "a.parquet", pa.table({"id": [1, 2, 3], "amount": ["1.5", "abc", "-2"]}))
    loaded = make_pipeline(yaml(None) + "schema:\n  columns:\n    id: integer\n    amount: {type: decimal, min: 0}\n")
    report = run_pipeline(loaded)
    assert (report.inserted, report.invalid) == (1, 2)
    assert stored(database_url, db_schema)[1] == [{"id": "1", "amount": "1.5"}]
    assert rejects(database_url, db_schema) == [
        (2, "amount", "column 'amount': 'abc' is not a decimal number (with a dot)", str(path)),
        (3, "amount", "column 'amount': -2 is below min 0", str(path)),
    ]


def test_a_column_a_text_file_also_has_is_text(tmp_path: Path, make_pipeline, database_url: str, db_schema: str):
    parquet(tmp_path, "a.parquet", pa.table({"id": pa.array([1], pa.int32()), "code": pa.array([7], pa.int64())}))
    write(tmp_path / "data" / "b.csv", "id,code\n2,A7\n")
    run_pipeline(make_pipeline(yaml(None)))
    types, rows = stored(database_url, db_schema)
    assert types == {"id": "text", "code": "text"}
    assert rows == [{"id": "1", "code": "7"}, {"id": "2", "code": "A7"}]


def test_a_stored_column_keeps_its_type_and_a_wider_number_widens_it(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
):
    """Across runs without a schema: a text column stays text when a Parquet file types it (no narrowing error), an
    integer column becomes bigint when a later file's is int64."""
    write(tmp_path / "data" / "a.csv", "id,code\n1,A1\n")
    loaded = make_pipeline(yaml(None))
    run_pipeline(loaded)
    parquet(tmp_path, "b.parquet", pa.table({"id": pa.array([2], pa.int32()), "code": pa.array([5], pa.int32())}))
    assert run_pipeline(loaded).inserted == 1
    assert stored(database_url, db_schema)[0] == {"id": "text", "code": "text"}

    (tmp_path / "data" / "a.csv").unlink()
    (tmp_path / "data" / "b.parquet").unlink()
    other = make_pipeline(yaml(None).replace("table: t", "table: u"))
    parquet(tmp_path, "c.parquet", pa.table({"id": pa.array([1], pa.int32())}))
    run_pipeline(other)
    parquet(tmp_path, "d.parquet", pa.table({"id": pa.array([2**40], pa.int64())}))
    assert run_pipeline(other).inserted == 1
    assert stored(database_url, db_schema, "u") == ({"id": "bigint"}, [{"id": "1"}, {"id": str(2**40)}])


def test_nested_values_are_json_and_nan_in_them_is_quarantined(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
):
    table = pa.table(
        {
            "id": [1, 2],
            "items": pa.array([[{"sku": "A", "price": Decimal("1.10"), "on": dt.date(2024, 1, 2)}], []]),
            "scores": pa.array([[2.5], [1.0, float("nan")]]),
        }
    )
    path = parquet(tmp_path, "a.parquet", table)
    report = run_pipeline(make_pipeline(yaml(None)))
    assert (report.inserted, report.invalid) == (1, 1)
    types, rows = stored(database_url, db_schema)
    assert types == {"id": "bigint", "items": "jsonb", "scores": "jsonb"}
    assert rows == [{"id": "1", "items": '[{"on": "2024-01-02", "sku": "A", "price": 1.10}]', "scores": "[2.5]"}]
    [(row, column, reason, source)] = rejects(database_url, db_schema)
    assert (row, column, source) == (2, "scores", str(path))
    assert reason.startswith("column 'scores': '[1.0,NaN]' is not valid JSON")


@pytest.mark.parametrize("damage", ["footer", "truncated", "not parquet"])
def test_a_corrupted_parquet_file_is_one_line_naming_it(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, damage: str
):
    path = parquet(tmp_path, "a.parquet", pa.table({"id": list(range(1000))}))
    content = path.read_bytes()
    broken = {
        "footer": content[:-12] + b"\0" * 8 + content[-4:],
        "truncated": content[: len(content) // 2],
        "not parquet": b"id\n1\n",
    }[damage]
    path.write_bytes(broken)
    with pytest.raises(ExtractError) as raised:
        run_pipeline(make_pipeline(yaml({"id": "integer"})))
    message = str(raised.value)
    assert message.startswith(f"{path}: not a readable Parquet file (") and "\n" not in message


def test_an_empty_parquet_file_loads_nothing(tmp_path: Path, make_pipeline, database_url: str, db_schema: str):
    parquet(tmp_path, "a.parquet", pa.table({"id": pa.array([], pa.int32()), "name": pa.array([], pa.string())}))
    (tmp_path / "data" / "b.parquet").write_bytes(b"")
    report = run_pipeline(make_pipeline(yaml(None)))
    assert (report.inserted, report.invalid) == (0, 0)
    assert stored(database_url, db_schema) == ({"id": "integer", "name": "text"}, [])


def test_many_row_groups_are_streamed_in_batches(tmp_path: Path, make_pipeline, database_url: str, db_schema: str):
    rows = 2 * BATCH_ROWS + 5_000
    path = parquet(
        tmp_path, "a.parquet", pa.table({"id": pa.array(range(1, rows + 1), pa.int64())}), row_group_size=3_000
    )
    assert pq.ParquetFile(path).num_row_groups == -(-rows // 3_000)
    batches = list(iter_parquet(path))
    assert [b.table.num_rows for b in batches] == [BATCH_ROWS, BATCH_ROWS, 5_000]
    numbers = [n for b in batches for n in b.row_numbers.to_pylist()]
    assert numbers == list(range(1, rows + 1))
    assert [b.table.column("id")[0].as_py() for b in batches] == [1, BATCH_ROWS + 1, 2 * BATCH_ROWS + 1]
    assert {b.table.column("id").type for b in batches} == {pa.int64()}  # kept typed: never text parsed back
    assert run_pipeline(make_pipeline(yaml(None))).inserted == rows


def test_the_schema_is_read_without_reading_rows(tmp_path: Path) -> None:
    path = parquet(tmp_path, "a.parquet", every_type())
    assert dict(parquet_columns(path)) == DECLARED


def test_text_of_values(tmp_path: Path) -> None:
    """The text the standardisers get: offsets kept, binary as hex, durations ISO 8601, decimals exact."""
    offset = pa.array([dt.datetime(2024, 1, 3, 8, 15, tzinfo=dt.UTC)], pa.timestamp("ms", "+02:00"))
    assert as_text(offset).to_pylist() == ["2024-01-03 10:15:00.000+0200"]
    assert as_text(pa.array([b"\x01\xab"], pa.binary(2))).to_pylist() == ["01ab"]
    assert as_text(pa.array([dt.timedelta(seconds=-3, microseconds=500)])).to_pylist() == ["PT-2.9995S"]
    assert as_text(pa.array([Decimal("-0.000100")], pa.decimal128(20, 6))).to_pylist() == ["-0.000100"]
    assert as_text(pa.array([1.5], pa.float16())).to_pylist() == ["1.5"]
    assert as_text(pa.nulls(2)).to_pylist() == [None, None]


def test_parquet_files_are_found_but_not_gzipped_ones() -> None:
    assert file_format(Path("a.PARQUET")) == ("parquet", False)
    assert file_format(Path("a.parquet.gz")) == ("", True)


def test_two_files_typing_a_column_differently() -> None:
    mapper = ColumnMapper([], strict=False)
    mapper.observe(["a", "b", "c"], "one.parquet", ["integer", "date", "float"])
    mapper.observe(["a", "b"], "two.parquet", ["bigint", "timestamp"])
    mapper.observe(["c"], "three.csv")
    assert mapper.found_types == {"a": "bigint", "b": "string", "c": "string"}
