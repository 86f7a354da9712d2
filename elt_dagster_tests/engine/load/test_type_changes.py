"""A column's type changed in the YAML: widened in the table (integer -> bigint -> decimal, anything -> string), or
refused in one line with the SQL that migrates it; never a raw PostgreSQL error, replay included."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load.type_changes import WIDENINGS, type_changes
from elt_dagster.engine.partition_run import run_partition
from elt_dagster.engine.replay import replay_rejects
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.engine.test_partition_run import day
from elt_dagster_tests.pipelines import DAILY_YAML

BODY = "sources:\n  - path: ../data\ntarget:\n  table: orders\n  db_schema: {schema}\nschema:\n  columns:\n"


def stored(database_url: str, db_schema: str) -> dict[str, str]:
    rows = fetch(
        database_url,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'orders' AND column_name NOT LIKE '\\_elt\\_%%'",
        db_schema,
    )
    return dict(rows)


def test_which_changes_are_widenings() -> None:
    existing = {"a": "integer", "b": "bigint", "c": "numeric", "d": "text", "e": "some_type_of_ours_not"}
    declared = {"a": "bigint", "b": "decimal", "c": "string", "d": "string", "e": "integer"}
    changes = type_changes(existing, declared)
    assert changes == {"a": ("integer", "bigint"), "b": ("bigint", "decimal"), "c": ("decimal", "string")}
    assert all(pair in WIDENINGS or pair[1] == "string" for pair in changes.values())


def test_the_readmes_quarantine_story_retyped_to_string_then_replayed(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """The sample's `not-a-number` amount: quarantined; the YAML says `amount: string`; the replay widens the
    column to text (the stored amounts kept as they were) and loads the record (was: a raw PostgreSQL error)."""
    write(tmp_path / "data" / "orders.csv", "id,amount\n1,12.50\n2,not-a-number\n3,7\n")
    first = run_pipeline(make_pipeline(BODY + "    id: integer\n    amount: decimal\n"))
    assert (first.inserted, first.rejected) == (2, 1)
    retyped = make_pipeline(BODY + "    id: integer\n    amount: string\n")
    report = replay_rejects(retyped)
    assert (report.recovered, report.inserted, report.remaining) == (1, 1, 0)
    assert stored(database_url, db_schema) == {"id": "integer", "amount": "text"}
    rows = fetch(database_url, f'SELECT id, amount FROM "{db_schema}".orders ORDER BY id')
    assert rows == [(1, "12.5"), (2, "not-a-number"), (3, "7")]  # numeric 12.50 was stored as 12.5


def test_integer_to_bigint_to_decimal_keeps_every_value(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,qty\n1,5\n2,2147483647\n")
    run_pipeline(make_pipeline(BODY + "    id: integer\n    qty: integer\n"))
    write(tmp_path / "data" / "b.csv", "id,qty\n3,9000000000\n")
    second = run_pipeline(make_pipeline(BODY + "    id: integer\n    qty: bigint\n"))
    assert second.inserted == 1
    assert stored(database_url, db_schema)["qty"] == "bigint"
    write(tmp_path / "data" / "c.csv", "id,qty\n4,1.25\n")
    run_pipeline(make_pipeline(BODY + "    id: integer\n    qty: decimal\n"))
    assert stored(database_url, db_schema)["qty"] == "numeric"
    rows = fetch(database_url, f'SELECT id, qty FROM "{db_schema}".orders ORDER BY id')
    assert rows == [(1, 5), (2, 2147483647), (3, 9000000000), (4, Decimal("1.25"))]


@pytest.mark.parametrize(("before", "after"), [("string", "decimal"), ("bigint", "integer"), ("date", "timestamp")])
def test_a_narrowing_change_stops_the_run_in_one_line_with_the_sql(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, before: str, after: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,value\n1,2024-01-02\n" if before == "date" else "id,value\n1,12\n")
    run_pipeline(make_pipeline(BODY + f"    id: integer\n    value: {before}\n"))
    write(tmp_path / "data" / "b.csv", "id,value\n2,13\n")
    with pytest.raises(PipelineError) as caught:
        run_pipeline(make_pipeline(BODY + f"    id: integer\n    value: {after}\n"))
    message = str(caught.value)
    assert "\n" not in message
    assert f"{db_schema}.orders.value is stored as {before} and the YAML now says {after}" in message
    assert f'ALTER TABLE "{db_schema}"."orders" ALTER COLUMN "value" TYPE' in message
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(1,)]  # nothing of the run


def test_a_partitioned_table_is_widened_in_the_short_transaction_before_the_partition_loads(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """The ready-table fast path (no table lock) is not taken while a declared type differs from the stored one."""
    write(tmp_path / "data" / "2024-01-01" / "a.csv", "id,name\n1,a\n")
    run_partition(make_pipeline(DAILY_YAML), day("2024-01-01"))
    write(tmp_path / "data" / "2024-01-02" / "a.csv", "id,name\n9000000000,b\n")
    report = run_partition(make_pipeline(DAILY_YAML.replace("id: integer", "id: bigint")), day("2024-01-02"))
    assert report.inserted == 1
    types = fetch(
        database_url,
        "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = 'events' "
        "AND column_name = 'id'",
        db_schema,
    )
    assert types == [("bigint",)]
