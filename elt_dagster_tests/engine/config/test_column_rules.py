"""Columns written as a mapping: type, rules and description; every invalid rule is a ConfigError at its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ColumnRules, column_descriptions, column_rules
from elt_dagster.engine.types import TYPES
from elt_dagster_tests.engine.config.yaml_files import SOURCES, config_error, load

HEAD = SOURCES + "target:\n  table: orders\nschema:\n  columns:\n"
"""A config up to `schema.columns:`; the first column written after it is on line 8."""

EXAMPLE = """\
    amount: {type: decimal, not_null: true, min: 0, description: Order total in EUR}
    status: {type: string, allowed: [open, paid, cancelled]}
    email:  {type: string, pattern: "^[^@]+@[^@]+$"}
    id: int
"""


def test_the_mapping_form_gives_types_rules_and_descriptions(tmp_path: Path) -> None:
    loaded = load(tmp_path, HEAD + EXAMPLE)
    schema = loaded.config.schema_
    assert schema is not None
    assert schema.columns == {"amount": "decimal", "status": "string", "email": "string", "id": "integer"}
    assert set(schema.rules) == {"amount", "status", "email"}
    amount = schema.rules["amount"]
    assert (amount.not_null, amount.min, amount.max, amount.column_type) == (True, "0", None, "decimal")
    assert schema.rules["status"].allowed == ["open", "paid", "cancelled"]
    assert schema.rules["email"].pattern == "^[^@]+@[^@]+$"
    assert column_descriptions(loaded) == {"amount": "Order total in EUR"}
    assert set(column_rules(loaded)) == {"amount", "status", "email"}


def test_the_short_form_has_no_rules(tmp_path: Path) -> None:
    loaded = load(tmp_path, HEAD + "    id: integer\n    name: text\n")
    assert loaded.config.schema_ is not None
    assert loaded.config.schema_.columns == {"id": "integer", "name": "string"}
    assert loaded.config.schema_.rules == {}
    assert column_descriptions(loaded) == {} and column_rules(loaded) == {}


def test_a_description_alone_checks_nothing(tmp_path: Path) -> None:
    loaded = load(tmp_path, HEAD + "    ' note ': {type: text, description: Free text}\n")
    assert loaded.config.schema_ is not None
    assert loaded.config.schema_.columns == {"note": "string"}
    assert column_descriptions(loaded) == {"note": "Free text"}
    assert column_rules(loaded) == {}


@pytest.mark.parametrize(
    ("column", "field", "expected"),
    [
        ("{type: decimal, min: 0.50, max: '1e3'}", "min", "0.5"),
        ("{type: decimal, min: 0.50, max: '1e3'}", "max", "1000"),
        ("{type: integer, min: ' 7 '}", "min", "7"),
        ("{type: float, max: 2.5}", "max", "2.5"),
        ("{type: date, min: 2024-01-01}", "min", "2024-01-01"),
        ("{type: date, min: 01.02.2024}", "min", "2024-02-01"),
        ("{type: timestamp, min: 2024-01-01}", "min", "2024-01-01 00:00:00"),
        ("{type: timestamptz, min: '2024-01-01 10:00+02:00'}", "min", "2024-01-01 08:00:00Z"),
        ("{type: integer, allowed: [1, '2', 1.0]}", "allowed", ["1", "2"]),
        ("{type: boolean, allowed: [yes]}", "allowed", ["t"]),
        ("{type: string, allowed: [' a', 2024-01-01, 5]}", "allowed", [" a", "2024-01-01", "5"]),
    ],
)
def test_rule_values_are_read_as_the_data_is(tmp_path: Path, column: str, field: str, expected: object) -> None:
    loaded = load(tmp_path, HEAD + f"    c: {column}\n")
    assert loaded.config.schema_ is not None
    assert getattr(loaded.config.schema_.rules["c"], field) == expected


def test_the_rules_on_one_line_per_key_are_found_by_line(tmp_path: Path) -> None:
    text = HEAD + "    amount:\n      type: integer\n      min: 10\n      max: 5\n"
    message, _ = config_error(tmp_path, text)
    assert "schema.columns.amount.max (line 11): max 5 is below min 10" in message


@pytest.mark.parametrize(
    ("column", "key", "problem"),
    [
        (
            "{type: string, min: 0}",
            "min",
            "min applies to numbers, dates and timestamps, not to a column of type string",
        ),
        (
            "{type: boolean, max: 1}",
            "max",
            "max applies to numbers, dates and timestamps, not to a column of type boolean",
        ),
        ("{type: json, min: 1}", "min", "not to a column of type json"),
        ("{type: decimal, min: abc}", "min", "'abc' is not a decimal number"),
        ("{type: integer, min: 1.5}", "min", "'1.5' is not an integer (32-bit)"),
        ("{type: integer, min: true}", "min", "True is not an integer"),
        ("{type: date, max: 5}", "max", "'5' is not a date"),
        ("{type: float, min: nan}", "min", "'nan' is not a number"),
        ("{type: decimal, min: [1]}", "min", "is not a decimal number"),
        ("{type: integer, min: 10, max: 5}", "max", "max 5 is below min 10"),
        ("{type: date, min: 2024-02-01, max: 2024-01-31}", "max", "max 2024-01-31 is below min 2024-02-01"),
        ("{type: string, allowed: []}", "allowed", "allowed is empty"),
        ("{type: string, allowed: open}", "allowed", "allowed must be a list"),
        (
            "{type: string, allowed: [open, yes]}",
            "allowed",
            "allowed[1]: YAML reads True as a bool: put the text in quotes",
        ),
        ("{type: string, allowed: [open, null]}", "allowed", "allowed[1]: None is not text"),
        ("{type: string, allowed: [' ']}", "allowed", "allowed[0]: an empty value"),
        ("{type: integer, allowed: [1, x]}", "allowed", "allowed[1]: 'x' is not an integer"),
        ("{type: json, allowed: ['1']}", "allowed", "allowed does not apply to a json column"),
        ("{type: string, pattern: '(a'}", "pattern", "invalid regular expression: missing ), unterminated subpattern"),
        ("{type: string, pattern: '(a)\\1'}", "pattern", "RE2, the regular expression engine used, rejects it"),
        ("{type: string, pattern: 'a(?=b)'}", "pattern", "backreferences and lookahead/lookbehind are not supported"),
        ("{type: string, pattern: ''}", "pattern", "pattern must be a regular expression"),
        (
            "{type: integer, pattern: '^1'}",
            "pattern",
            "pattern applies to string columns, not to a column of type integer",
        ),
        ("{type: string, format: '%d/%m/%Y'}", "format", "format applies to date and timestamp columns"),
        ("{type: date, format: 'dd/mm/yyyy'}", "format", "format must be strptime directives"),
        ("{type: date, format: '%d/%m/%Q'}", "format", "can't read back what it writes"),
        ("{type: timestamptz, format: '%d/%m/%Y %z'}", "format", "format can't read a zone"),
        ("{type: string, thousands: ','}", "thousands", "thousands applies to number columns"),
        ("{type: date, trailing_minus: true}", "trailing_minus", "trailing_minus applies to number columns"),
        ("{type: decimal, thousands: ',,'}", "thousands", "thousands must be one character"),
        ("{type: decimal, thousands: '1'}", "thousands", "must be text without digits or signs"),
        ("{type: decimal, decimal_mark: ';'}", "decimal_mark", 'decimal_mark must be "." or ","'),
        ("{type: integer, currency: '+'}", "currency", "must be text without digits or signs"),
        ("{type: string, not_null: perhaps}", "not_null", "Input should be a valid boolean"),
        ("{type: string, description: 5}", "description", "Input should be a valid string"),
        ("{type: string, unique: true}", "unique", "unknown key"),
        ("{not_null: true}", "type", "required key is missing"),
    ],
)
def test_an_invalid_rule_is_a_config_error_at_its_key(tmp_path: Path, column: str, key: str, problem: str) -> None:
    message, _ = config_error(tmp_path, HEAD + "    id: integer\n    amount: " + column + "\n")
    assert f"schema.columns.amount.{key} (line 9): " in message
    assert problem in message
    assert message.count("schema.columns") == 1, message  # one problem, said once


def test_an_unknown_type_in_the_mapping_form_is_reported_once(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, HEAD + "    amount: {type: money, min: 0, allowed: [1]}\n")
    assert "schema.columns (line 7): column 'amount': unknown type 'money'" in message
    assert message.count("schema.columns") == 1, message


def test_rules_is_not_a_key_of_the_schema(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, HEAD + "    id: integer\n  rules: {id: {type: integer}}\n")
    assert "schema.rules (line 9): unknown key" in message


def test_a_python_only_regex_is_rejected_but_re2_classes_are_fine(tmp_path: Path) -> None:
    loaded = load(tmp_path, HEAD + "    name: {type: string, pattern: '^\\pL+$'}\n")
    assert loaded.config.schema_ is not None and loaded.config.schema_.rules["name"].pattern == "^\\pL+$"


def test_rules_validate_outside_yaml_too() -> None:
    rules = ColumnRules.model_validate({"type": "numeric", "min": "-0.0", "max": 10})
    assert (rules.column_type, rules.min, rules.max, rules.checks_values) == ("decimal", "0", "10", True)


def test_the_ordered_types_agree() -> None:
    ordered = {name for name, column_type in TYPES.items() if column_type.ordered}
    assert ordered == {"integer", "bigint", "float", "decimal", "date", "timestamp", "timestamptz"}
    assert all(TYPES[name].arrow_type() is not None for name in ordered)


def test_thousands_and_the_decimal_mark_must_differ(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, HEAD + "    id: integer\n    amount: {type: decimal, thousands: '.'}\n")
    assert "schema.columns.amount (line 9): " in message
    assert "thousands and decimal_mark are both '.'" in message
