"""The reject limit (`schema.max_rejected`) against a real PostgreSQL: past it a run fails in one line and commits no
row (a first load leaves no table, a later one the old rows only, no fingerprint recorded) while its rejects land in
the quarantine table; under it a run loads; a count limit; config errors at key and line; a partition over the
limit is left as it was; the Dagster step fails with the line, no traceback."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from dagster import instance_for_test

from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.partition_run import run_partition
from elt_dagster.engine.reject_limit import RejectLimitExceeded, over_limit
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.state.fingerprints import stored_fingerprints
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.engine.config.yaml_files import config_error
from elt_dagster_tests.engine.test_partition_run import day, rows_of
from elt_dagster_tests.pipelines import DAILY_YAML, shop_yaml

ORDERS = """
sources:
  - path: ../data
target:
  table: orders
  db_schema: {schema}
schema:
  columns:
    id: integer
    amount: {amount}
  max_rejected: {limit}
"""


def orders(make_pipeline, limit: str, amount: str = "decimal") -> LoadedConfig:
    return make_pipeline(ORDERS.replace("{limit}", limit).replace("{amount}", amount))


def write_orders(tmp_path: Path, name: str, amounts: list[str], first_id: int = 1) -> Path:
    rows = "".join(f"{first_id + index},{amount}\n" for index, amount in enumerate(amounts))
    return write(tmp_path / "data" / name, "id,amount\n" + rows)


HALF_BAD = ["1.50", "abc", "2.50", "abc", "3.50", "abc", "4.50", "n/a", "5.50", "n/a"]
"""Ten rows, five bad: 'abc' three times, 'n/a' twice."""


def table_exists(database_url: str, db_schema: str, table: str) -> bool:
    return fetch(database_url, "SELECT to_regclass(%s) IS NOT NULL", f'"{db_schema}"."{table}"')[0][0]


def quarantined(database_url: str, db_schema: str) -> list[tuple]:
    return fetch(
        database_url, f"SELECT source_row, raw_record->>'amount' FROM \"{db_schema}\".orders__rejected ORDER BY 1"
    )


def fingerprints(database_url: str, folder: Path) -> list[str]:
    """The files of `folder` recorded as loaded by pipeline `orders` (other tests' pipelines share its name)."""
    with psycopg.connect(database_url) as conn:
        stored = stored_fingerprints(conn, "orders")
    return sorted(Path(path).name for path in stored if Path(path).is_relative_to(folder))


def test_half_bad_rows_past_10_percent_fail_in_one_line_and_load_nothing(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_orders(tmp_path, "a.csv", HALF_BAD)
    with pytest.raises(RejectLimitExceeded) as failed:
        run_pipeline(orders(make_pipeline, "10%"))
    message = str(failed.value)
    assert "\n" not in message
    assert "5 of 10 records read were rejected (50%), past schema.max_rejected: 10%" in message
    # the top reasons count kinds: 'abc' (3) and 'n/a' (2) are one reason of 5
    assert "top reasons: column 'amount': is not a decimal number (with a dot) (5 records); " in message
    assert f"{db_schema}.orders__rejected" in message and "`elt-dagster rejects orders` lists them" in message
    assert not table_exists(database_url, db_schema, "orders")  # the first load's table was rolled back
    assert fingerprints(database_url, tmp_path) == []
    assert quarantined(database_url, db_schema) == [(2, "abc"), (4, "abc"), (6, "abc"), (8, "n/a"), (10, "n/a")]


def test_a_failed_run_into_a_loaded_table_keeps_the_old_rows_and_is_read_again_after_the_fix(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write_orders(tmp_path, "a.csv", ["1", "2"])
    run_pipeline(orders(make_pipeline, "10%"))
    write_orders(tmp_path, "b.csv", HALF_BAD, first_id=3)
    with pytest.raises(RejectLimitExceeded, match="5 of 10 records"):
        run_pipeline(orders(make_pipeline, "10%"))
    assert fetch(database_url, f'SELECT id FROM "{db_schema}".orders ORDER BY 1') == [(1,), (2,)]
    assert fingerprints(database_url, tmp_path) == ["a.csv"]  # b.csv's was rolled back with its rows
    assert len(quarantined(database_url, db_schema)) == 5
    report = run_pipeline(orders(make_pipeline, "60%"))  # the limit raised in the YAML: b.csv is read again
    assert (report.inserted, report.invalid) == (5, 5)
    assert fingerprints(database_url, tmp_path) == ["a.csv", "b.csv"]
    assert len(quarantined(database_url, db_schema)) == 5  # the same rejects, each kept once


def test_a_run_under_the_limit_loads(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    write_orders(tmp_path, "a.csv", ["1"] * 9 + ["abc"])  # 1 of 10: exactly 10%, not past it
    report = run_pipeline(orders(make_pipeline, "10%"))
    assert (report.inserted, report.invalid) == (9, 1)
    assert len(quarantined(database_url, db_schema)) == 1


def test_a_count_limit(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    write_orders(tmp_path, "a.csv", ["abc", "abc", "1"])
    assert run_pipeline(orders(make_pipeline, "2")).inserted == 1  # 2 rejected: not past 2
    write_orders(tmp_path, "b.csv", ["abc", "abc", "abc", "1"], first_id=4)
    with pytest.raises(RejectLimitExceeded, match=r"3 of 4 records read were rejected \(75%\), past .*: 2,"):
        run_pipeline(orders(make_pipeline, "2"))
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(1,)]


def test_malformed_lines_count_as_rejected(tmp_path: Path, make_pipeline, database_url: str) -> None:
    write(tmp_path / "data" / "a.csv", 'id,amount\n1,1.5\n2,2.5,extra\n3,3.5\n"4,4.5\n')
    with pytest.raises(RejectLimitExceeded, match=r"of \d+ records read were rejected"):
        run_pipeline(orders(make_pipeline, "0"))


@pytest.mark.parametrize(
    ("limit", "rejected", "valid", "over"),
    [
        ("10%", 1, 9, False),
        ("10%", 2, 9, True),
        ("0.5%", 1, 199, False),
        ("0.5%", 2, 199, True),
        ("0%", 1, 1000, True),
        ("100%", 5, 0, False),
        (0, 0, 0, False),
        (0, 0, 5, False),
        (0, 1, 5, True),
        ("0%", 0, 0, False),
    ],
)
def test_the_rule(limit: int | str, rejected: int, valid: int, over: bool) -> None:
    assert over_limit(limit, rejected, valid) is over


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("150%", "'150%' is not between 0% and 100%"),
        ("-1", "-1 is negative"),
        ('"abc"', "'abc' is not a share of the records read such as \"5%\" (0 to 100) or a count"),
        ("0.5", '0.5: a count is a whole number (a share is written with %, e.g. "0.5%")'),
        ("true", "True is not a share"),
    ],
)
def test_an_invalid_limit_is_a_config_error_at_its_key_and_line(tmp_path: Path, value: str, problem: str) -> None:
    text = "sources:\n  - path: data\ntarget:\n  table: t\nschema:\n  columns:\n    id: integer\n"
    message, _ = config_error(tmp_path, text + f"  max_rejected: {value}\n")
    assert f"schema.max_rejected (line 8): {problem}" in message


def test_a_partition_past_the_limit_is_left_as_it_was(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "2024-01-02" / "events.csv", "id,name\n1,a\n2,b\n")
    daily = make_pipeline(DAILY_YAML.replace("    name: string\n", "    name: string\n  max_rejected: 10%\n"))
    assert daily.config.schema_.max_rejected == "10%"
    run_partition(daily, day("2024-01-02"))
    write(tmp_path / "data" / "2024-01-02" / "events.csv", "id,name\n1,a\nx,b\ny,c\n3,d\n")
    with pytest.raises(RejectLimitExceeded, match=r"^partition 2024-01-02 of pipeline 'orders': 2 of 4 records"):
        run_partition(daily, day("2024-01-02"))
    assert rows_of(database_url, db_schema) == [("2024-01-02", 1, "a"), ("2024-01-02", 2, "b")]
    rejected = f"SELECT partition_key, raw_record->>'id' FROM \"{db_schema}\".events__rejected ORDER BY 2"
    assert fetch(database_url, rejected) == [("2024-01-02", "x"), ("2024-01-02", "y")]


def test_the_dagster_step_fails_with_the_line_not_a_traceback(
    tmp_path: Path, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,amount\n1,abc\n2,abc\n3,3\n")
    write(tmp_path / "configs" / "shop.yaml", shop_yaml(db_schema, extra="  max_rejected: 10%\n"))
    with instance_for_test() as instance:
        job = build_definitions(tmp_path / "configs").resolve_job_def("shop_elt")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "2 of 3 records read were rejected (66.7%), past schema.max_rejected: 10%" in message
    assert "Traceback" not in message and "\n" not in message.strip()
    assert not table_exists(database_url, db_schema, "orders")
