"""Typed columns (a Parquet file's) standardised as they are give exactly what their text gives: the same canonical
values, the same row hashes, the same rejects and reasons; what the typed way can't judge goes the text way."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from elt_dagster.engine.names import SOURCE_COLUMN, SOURCE_ROW_COLUMN
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.transform.typed import arrow_kind, as_text, standardize_typed
from elt_dagster.engine.transform.validate import check_batch
from elt_dagster.engine.types import TYPES, typed_input_kinds
from elt_dagster_tests.conftest import write

PARIS = dt.timezone(dt.timedelta(hours=1))
MOMENT = dt.datetime(2024, 1, 3, 9, 15, 7)

# (column, Arrow values, declared type): each kind a column type takes, NULLs and edge values included
TYPED = [
    ("i8", pa.array([-128, 127, None], pa.int8()), "integer"),
    ("i32", pa.array([-(2**31), 2**31 - 1, None], pa.int32()), "integer"),
    ("i64", pa.array([-(2**63), 2**63 - 1, 0], pa.int64()), "bigint"),
    ("u8", pa.array([0, 255, None], pa.uint8()), "integer"),
    ("u32", pa.array([0, 2**32 - 1, None], pa.uint32()), "bigint"),
    ("f64", pa.array([0.1, -0.0, 1e300], pa.float64()), "float"),
    ("f64_tiny", pa.array([5e-324, 1 / 3, None], pa.float64()), "float"),
    ("flag", pa.array([True, False, None]), "boolean"),
    ("amount", pa.array([Decimal("12.50"), Decimal("-0.50"), Decimal("0.00")], pa.decimal128(12, 2)), "decimal"),
    ("whole", pa.array([Decimal("10.00"), Decimal("3"), None], pa.decimal128(12, 2)), "decimal"),
    ("count", pa.array([Decimal("120"), Decimal("-120"), Decimal("0")], pa.decimal128(5, 0)), "decimal"),
    (
        "wide",
        pa.array([Decimal("-1234567890123456789012345678.1234567890"), None, Decimal("1E-10")], pa.decimal256(40, 10)),
        "decimal",
    ),
    ("tiny", pa.array([Decimal("-2.5E-8"), Decimal("1E-6"), Decimal("0")], pa.decimal128(20, 10)), "decimal"),
    ("day", pa.array([dt.date(1, 1, 1), dt.date(9999, 12, 31), None], pa.date32()), "date"),
    ("at_s", pa.array([MOMENT, dt.datetime(1, 1, 1), None], pa.timestamp("s")), "timestamp"),
    ("at_ms", pa.array([MOMENT.replace(microsecond=5000), MOMENT, None], pa.timestamp("ms")), "timestamp"),
    ("at_us", pa.array([MOMENT.replace(microsecond=123456), MOMENT, None], pa.timestamp("us")), "timestamp"),
    (
        "at_paris",
        pa.array([MOMENT.replace(tzinfo=PARIS), MOMENT.replace(tzinfo=dt.UTC), None], pa.timestamp("ms", "+01:00")),
        "timestamptz",
    ),
    ("at_utc", pa.array([MOMENT.replace(tzinfo=dt.UTC), None, None], pa.timestamp("us", "UTC")), "timestamptz"),
]


def batch(columns: dict[str, pa.Array]) -> pa.Table:
    rows = len(next(iter(columns.values())))
    return pa.table(
        {**columns, SOURCE_COLUMN: pa.array(["a.parquet"] * rows), SOURCE_ROW_COLUMN: pa.array(range(1, rows + 1))}
    )


def as_texts(columns: dict[str, pa.Array]) -> dict[str, pa.Array]:
    return {name: as_text(values) for name, values in columns.items()}


def test_every_kind_a_type_takes_is_named_and_kept_typed() -> None:
    assert {arrow_kind(values.type) for _, values, _ in TYPED} <= typed_input_kinds()
    assert arrow_kind(pa.timestamp("ms", "Europe/Paris")) == "timestamp[ms, tz]"
    for name, values, declared in TYPED:
        assert standardize_typed(values, TYPES[declared]) is not None, f"{name} went the text way"


def test_typed_columns_give_the_canonical_values_and_hashes_their_text_gives() -> None:
    columns = {name: values for name, values, _ in TYPED}
    types = {name: declared for name, _, declared in TYPED}
    typed, text = check_batch(batch(columns), types, []), check_batch(batch(as_texts(columns)), types, [])
    assert typed.rejects == text.rejects == []
    assert typed.rows.equals(text.rows), (typed.rows.to_pylist(), text.rows.to_pylist())
    assert typed.rows.column("at_ms").to_pylist()[0] == "2024-01-03 09:15:07.005000"


@pytest.mark.parametrize(
    ("values", "declared"),
    [
        (pa.array([1, 2**31, None], pa.int64()), "integer"),  # out of range for 32 bits
        (pa.array([1.5, float("nan"), float("inf")]), "float"),  # NaN and infinity: the text way judges them
        (pa.array([1, 2], pa.int64()), "string"),  # a type that takes no typed input
        (pa.array([1, 2], pa.int64()), "date"),  # never days since 1970
        (pa.array([MOMENT.replace(tzinfo=dt.UTC)], pa.timestamp("us", "UTC")), "timestamp"),  # zone to no zone
        (pa.array([MOMENT], pa.timestamp("us")), "timestamptz"),  # no zone to a zone
        (pa.array([MOMENT.replace(microsecond=1)], pa.timestamp("ns")), "timestamp"),  # beyond microseconds
        (pa.array([0.1], pa.float32()), "float"),  # float32's 0.1 is not float64's
        (pa.array([2**64 - 1], pa.uint64()), "decimal"),
        (pa.array([Decimal("1.2E+4")], pa.decimal128(5, -2)), "decimal"),  # a negative scale: written with an exponent
        (pa.array([Decimal("1.5")], pa.decimal128(5, 1)), "float"),
    ],
)
def test_what_the_typed_way_cant_judge_goes_the_text_way(values: pa.Array, declared: str) -> None:
    assert standardize_typed(values, TYPES[declared]) is None
    typed = check_batch(batch({"v": values}), {"v": declared}, [])
    text = check_batch(batch({"v": as_text(values)}), {"v": declared}, [])
    assert typed.rows.equals(text.rows)
    assert typed.rejects == text.rejects


def test_a_reject_keeps_its_typed_values_as_text() -> None:
    """A row rejected for another column: its raw record holds each typed value as text (JSON, replayable)."""
    columns = {
        "id": pa.array([1, 2], pa.int64()),
        "day": pa.array([dt.date(2024, 2, 29), None]),
        "n": pa.array(["x", "3"]),
    }
    checked = check_batch(batch(columns), {"id": "bigint", "day": "date", "n": "integer"}, [])
    [reject] = checked.rejects
    assert reject["raw_record"] == {"id": "1", "day": "2024-02-29", "n": "x"}
    assert reject["source_row"] == 1 and json.dumps(reject)
    assert checked.rows.column("id").to_pylist() == ["2"]


def test_a_parquet_file_and_a_csv_of_the_same_rows_dedup_against_each_other(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """In one run (small files, grouped as text) and in two (the Parquet file streamed typed): same hashes."""
    rows = {"id": [1, 2], "day": [dt.date(2024, 1, 2), None], "at": [MOMENT, MOMENT], "ok": [True, False]}
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table(rows), tmp_path / "data" / "a.parquet")
    write(
        tmp_path / "data" / "b.csv", "id,day,at,ok\n1,2024-01-02,2024-01-03 09:15:07,true\n2,,2024-01-03T09:15:07,f\n"
    )
    columns = "    id: bigint\n    day: date\n    at: timestamp\n    ok: {type: boolean, allowed: [true, false]}\n"
    body = f"sources:\n  - path: ../data\n    pattern: '{{}}'\ntarget:\n  table: t\n  db_schema: {db_schema}\n"
    both = make_pipeline(body.format("*") + "schema:\n  columns:\n" + columns)
    report = run_pipeline(both, run_id="both")
    assert (report.inserted, report.duplicates, report.rejected) == (2, 2, 0)
    (tmp_path / "data" / "c.parquet").write_bytes((tmp_path / "data" / "a.parquet").read_bytes())
    report = run_pipeline(both, run_id="again")
    assert (report.inserted, report.duplicates, report.rejected) == (0, 2, 0)
