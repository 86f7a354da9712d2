"""Column names PostgreSQL can't take: one clear error naming the file, or a documented rename; never a DB error."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.files.columns import postgres_name
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.engine.sources.files.helpers import pipeline


def dry_run_columns(tmp_path: Path, header: str, row: str) -> list[str]:
    write(tmp_path / "data" / "a.csv", f"{header}\n{row}\n")
    return check_pipeline(pipeline(tmp_path), tmp_path / "staging").columns


def test_unnamed_columns_are_named_by_position_so_their_values_are_kept(tmp_path: Path) -> None:
    assert dry_run_columns(tmp_path, "id,,name,", "1,x,Ann,y") == ["id", "column_2", "name", "column_4"]


@pytest.mark.parametrize("name", ["ctid", "XMIN", "tableoid"])
def test_a_system_column_name_is_one_error_naming_the_file_and_column(tmp_path: Path, name: str) -> None:
    with pytest.raises(ExtractError, match=rf"a\.csv: column '{name}' has the name of a PostgreSQL system column"):
        dry_run_columns(tmp_path, f"id,{name}", "1,2")


def test_an_elt_prefixed_name_that_is_not_one_of_ours_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match=r"a\.csv: column '_elt_note': names starting with '_elt_' are reserved"):
        dry_run_columns(tmp_path, "id,_elt_note", "1,2")


def test_names_over_63_bytes_are_cut_as_postgresql_would_and_a_clash_is_an_error(tmp_path: Path) -> None:
    long = "é" * 40  # 80 bytes: the cut falls inside no character
    assert postgres_name(long) == "é" * 31 and postgres_name("a" * 70) == "a" * 63
    assert dry_run_columns(tmp_path, f"id,{long}", "1,2") == ["id", "é" * 31]
    with pytest.raises(ExtractError, match=r"a\.csv: columns '(a{70}x)' and '(a{70}y)' are the same column"):
        dry_run_columns(tmp_path, f"id,{'a' * 70}x,{'a' * 70}y", "1,2,3")


def test_more_columns_than_a_table_holds_is_an_error_suggesting_strict_mode(tmp_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(1597))
    with pytest.raises(ExtractError, match=r"a\.csv: more than 1596 columns.*strict_mode"):
        dry_run_columns(tmp_path, header, ",".join("1" * 1597))
    assert len(dry_run_columns(tmp_path, ",".join(f"c{i}" for i in range(1596)), ",".join("1" * 1596))) == 1596


@pytest.mark.parametrize(
    ("column", "message"),
    [("ctid", "system column"), ("a" * 64, "longer than PostgreSQL's 63 bytes"), ("_elt_x", "reserved")],
)
def test_declared_columns_follow_the_same_rules(tmp_path: Path, column: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        pipeline(tmp_path, {column: "string"})


def test_a_long_column_name_loads_under_its_cut_name(tmp_path: Path, make_pipeline, database_url: str) -> None:
    write(tmp_path / "data" / "a.csv", f"id,{'b' * 70}\n1,kept\n")
    config = make_pipeline("sources:\n  - path: ../data\ntarget:\n  table: t\n  db_schema: {schema}\n")
    report = run_pipeline(config)
    assert report.inserted == 1
    assert fetch(database_url, f'SELECT "{"b" * 63}" FROM "{config.config.target.db_schema}".t') == [("kept",)]
