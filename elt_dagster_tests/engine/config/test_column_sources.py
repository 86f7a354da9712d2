"""`schema.columns.<column>.from` in the YAML: read through its alias, and each error at the `from` key's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError, load_config
from elt_dagster.engine.config.column_sources import column_sources
from elt_dagster_tests.conftest import write

HEAD = "sources: [{path: data}]\ntarget: {table: t, mode: merge, primary_key: [order_id]}\nschema:\n  columns:\n"


def _load(tmp_path: Path, columns: str):
    (tmp_path / "data").mkdir(exist_ok=True)
    return load_config(write(tmp_path / "p.yaml", HEAD + columns))


def test_from_names_the_source_of_a_column(tmp_path: Path) -> None:
    loaded = _load(tmp_path, '    order_id: {type: integer, from: " Order ID "}\n    amount: decimal\n')
    schema = loaded.config.schema_
    assert schema is not None and column_sources(schema.rules) == {"order_id": "Order ID"}
    assert schema.rules["order_id"].column_type == "integer" and schema.normalize_names is None


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            '    order_id: {type: integer, from: "Order ID"}\n    other: {type: string, from: "order id"}\n',
            r"schema\.columns\.other\.from \(line 6\): 'order id' is already the source of column 'order_id'",
        ),
        (
            '    order_id: {type: integer, from: "Amount"}\n    amount: decimal\n',
            r"schema\.columns\.order_id\.from \(line 5\): 'Amount' is the name of declared column 'amount' too",
        ),
        ('    order_id: {type: integer, from: "  "}\n', r"schema\.columns\.order_id\.from \(line 5\): from is empty"),
        ("    order_id: {type: integer, from: [a]}\n", r"schema\.columns\.order_id\.from \(line 5\): .*string"),
    ],
)
def test_from_errors_name_the_key_and_line(tmp_path: Path, columns: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, columns)


def test_an_unknown_normalize_names_rule_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    text = HEAD.replace("  columns:\n", "  normalize_names: camelCase\n  columns:\n    order_id: integer\n")
    with pytest.raises(ConfigError, match=r"schema\.normalize_names \(line 4\): .*'snake_case'"):
        load_config(write(tmp_path / "p.yaml", text))


def test_a_from_naming_a_column_with_its_own_from_is_fine(tmp_path: Path) -> None:
    loaded = _load(tmp_path, '    order_id: {type: integer, from: "id"}\n    id: {type: string, from: "Legacy ID"}\n')
    assert loaded.config.schema_ is not None
    assert column_sources(loaded.config.schema_.rules) == {"order_id": "id", "id": "Legacy ID"}
