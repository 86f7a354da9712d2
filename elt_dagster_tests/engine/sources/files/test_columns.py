"""Column names PostgreSQL can't take: one clear error naming the file, or a documented rename; never a DB error."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError, load_config
from elt_dagster.engine.config.schema import MAX_DATA_COLUMNS
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
    header = ",".join(f"c{i}" for i in range(MAX_DATA_COLUMNS + 1))
    with pytest.raises(ExtractError, match=rf"a\.csv: more than {MAX_DATA_COLUMNS} columns.*strict_mode"):
        dry_run_columns(tmp_path, header, ",".join("1" * (MAX_DATA_COLUMNS + 1)))
    widest = dry_run_columns(
        tmp_path, ",".join(f"c{i}" for i in range(MAX_DATA_COLUMNS)), ",".join("1" * MAX_DATA_COLUMNS)
    )
    assert len(widest) == MAX_DATA_COLUMNS == 1592


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


def _mapped(tmp_path: Path, schema: str, header: str, target: str = "") -> list[str]:
    """The run's columns of a one-file dry run with `schema` (YAML lines under `schema:`) and `target` keys."""
    write(tmp_path / "data" / "a.csv", f"{header}\n{','.join('1' * len(header.split(',')))}\n")
    text = f"sources: [{{path: data}}]\ntarget:\n  table: t\n{target}schema:\n{schema}"
    return check_pipeline(load_config(write(tmp_path / "p.yaml", text)), tmp_path / "staging").columns


def test_from_maps_a_source_name_to_a_column_before_anything_else(tmp_path: Path) -> None:
    schema = '  normalize_names: snake_case\n  columns:\n    oid: {type: integer, from: "order id"}\n'
    assert _mapped(tmp_path, schema, "Order ID,Customer Name", "  mode: merge\n  primary_key: [oid]\n") == [
        "oid",
        "customer_name",
    ]


def test_normalize_names_maps_every_header_onto_the_declared_columns(tmp_path: Path) -> None:
    schema = "  normalize_names: snake_case\n  columns:\n    order_id: integer\n"
    header = "OrderID,customerName,2024 Total,_elt_row_hash,Café"
    assert _mapped(tmp_path, schema, header) == ["order_id", "customer_name", "_2024_total", "cafe"]


def test_two_names_of_one_file_normalised_alike_are_one_error_naming_both(tmp_path: Path) -> None:
    schema = "  normalize_names: snake_case\n  columns:\n    order_id: integer\n"
    with pytest.raises(
        ExtractError, match=r"a\.csv: columns 'Order ID' and 'orderId' both map to 'order_id' \(.*normalize"
    ):
        _mapped(tmp_path, schema, "Order ID,orderId")
    with pytest.raises(ExtractError, match=r"a\.csv: columns 'Customer Name' and 'customer-name' both map to"):
        _mapped(tmp_path, schema, "Customer Name,customer-name")


def test_a_file_with_both_the_from_name_and_the_column_name_is_an_error(tmp_path: Path) -> None:
    schema = '  columns:\n    order_id: {type: integer, from: "Order ID"}\n'
    with pytest.raises(ExtractError, match=r"a\.csv: columns 'Order ID' and 'order_id' both map to 'order_id'"):
        _mapped(tmp_path, schema, "Order ID,order_id")


@pytest.mark.parametrize("strict", ["false", "true"])
def test_a_key_a_header_would_fill_under_another_spelling_is_one_line(tmp_path: Path, strict: str) -> None:
    schema = f"  strict_mode: {strict}\n  columns:\n    order_id: integer\n    amount: decimal\n    updated_at: date\n"
    merge = "  mode: merge\n  primary_key: [order_id]\n"
    with pytest.raises(
        ExtractError,
        match=r"^target\.primary_key 'order_id': no column of .*a\.csv is named so; its header 'Order ID' would be with schema\.normalize_names: snake_case, or columns\.order_id: \{from: \"Order ID\"\}$",
    ):
        _mapped(tmp_path, schema, "Order ID,Amount", merge)
    with pytest.raises(ExtractError, match=r"^target\.order_by 'updated_at': .*its header 'UPDATED AT'"):
        _mapped(tmp_path, schema, "order_id,Amount,UPDATED AT", merge + "  order_by: updated_at\n")


def test_a_key_hint_without_a_schema(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", "OrderId,amount\n1,2\n")
    text = "sources: [{path: data}]\ntarget: {table: t, mode: merge, primary_key: [order_id]}\n"
    with pytest.raises(ExtractError, match=r"target\.primary_key 'order_id': .*its header 'OrderId'"):
        check_pipeline(load_config(write(tmp_path / "p.yaml", text)), tmp_path / "staging")
