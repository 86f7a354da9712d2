"""Type standardisation, row hashes and the validate stage (staging CSV in, validated Arrow file and rejects out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from elt_dagster.engine.config import LoadedConfig, load_config
from elt_dagster.engine.dry_run import CheckReport, check_pipeline
from elt_dagster.engine.transform import standardize as st
from elt_dagster.engine.transform.standardize import standardize_decimal
from elt_dagster.engine.transform.temporal import standardize_timestamp
from elt_dagster.engine.transform.validate import HASH_COLUMN, describe_reject, row_hashes
from elt_dagster_tests.conftest import write


def standardize(type_name: str, values: list[str | None]) -> list[tuple[str | None, bool]]:
    """(canonical value, failed) for each value, through the standardizer the pipeline uses for `type_name`."""
    canonical, failed = st.STANDARDIZERS[type_name](pa.array(values, pa.string()))
    assert len(canonical) == len(failed) == len(values)
    return list(zip(canonical.to_pylist(), failed.to_pylist(), strict=True))


def check(type_name: str, raw: str, expected: str | None) -> None:
    """`raw` converts to `expected`; expected None means it must fail."""
    [(value, failed)] = standardize(type_name, [raw])
    if expected is None:
        assert (value, failed) == (None, True), f"{raw!r} should fail as {type_name}"
    else:
        assert (value, failed) == (expected, False), f"{raw!r} as {type_name}"


# --- integers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", "42"),
        (" 42 ", "42"),
        ("42.0", "42"),
        ("42.000", "42"),
        ("+7", "7"),
        ("-0", "0"),
        ("-15", "-15"),
        ("007", "7"),
        (str(2**31 - 1), str(2**31 - 1)),
        (str(-(2**31)), str(-(2**31))),
        (str(2**31), None),
        (str(-(2**31) - 1), None),
        ("4.5", None),
        ("1e3", None),
        ("1,000", None),
        ("abc", None),
        ("-", None),
    ],
)
def test_integer(raw: str, expected: str | None) -> None:
    check("integer", raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (str(2**31), str(2**31)),
        ("1234567890123456789", "1234567890123456789"),  # 19 digits
        ("9223372036854775807", "9223372036854775807"),  # the limit
        ("+9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("9223372036854775807.0", "9223372036854775807"),
        ("0000000000000000000000042", "42"),
        ("9223372036854775808", None),
        ("-9223372036854775809", None),
        ("99999999999999999999999", None),
    ],
)
def test_bigint(raw: str, expected: str | None) -> None:
    check("bigint", raw, expected)


def test_integer_batch_keeps_positions() -> None:
    assert standardize("integer", ["1", "x", None, " 3 ", str(2**31)]) == [
        ("1", False),
        (None, True),
        (None, False),
        ("3", False),
        (None, True),
    ]


# --- decimals and floats -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.50", "12.5"),
        ("0012.0", "12"),
        (".5", "0.5"),
        ("-.5", "-0.5"),
        ("+3.10", "3.1"),
        ("100", "100"),
        ("100.00", "100"),
        ("-00.50", "-0.5"),
        ("-0.0", "0"),
        ("0.000", "0"),
        (" 7.25 ", "7.25"),
        ("1,5", None),
        ("1.2.3", None),
        ("12 EUR", None),
        (".", None),
    ],
)
def test_decimal(raw: str, expected: str | None) -> None:
    check("decimal", raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.5", "1.5"),
        ("1e3", "1000"),
        ("-2.5E-2", "-0.025"),
        (".5", "0.5"),
        ("1.0", "1"),
        ("1e20", "1e+20"),
        ("inf", "inf"),
        ("1,5", None),
        ("abc", None),
    ],
)
def test_float(raw: str, expected: str | None) -> None:
    check("float", raw, expected)


def test_float_out_of_range_fails() -> None:
    check("float", "1e400", None)


# --- booleans ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", "t"),
        ("YES", "t"),
        ("no", "f"),
        ("No", "f"),
        ("1", "t"),
        ("0", "f"),
        ("true", "t"),
        ("TRUE", "t"),
        ("false", "f"),
        ("False", "f"),
        ("on", "t"),
        ("OFF", "f"),
        ("y", "t"),
        ("n", "f"),
        (" true ", "t"),
        ("maybe", None),
        ("2", None),
        ("yess", None),
    ],
)
def test_boolean(raw: str, expected: str | None) -> None:
    check("boolean", raw, expected)


# --- dates and timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-31", "2024-01-31"),
        (" 2024-01-31 ", "2024-01-31"),
        ("31.01.2024", "2024-01-31"),
        ("01/31/2024", "2024-01-31"),
        ("2024/01/31", "2024-01-31"),
        ("5 Jan 2024", "2024-01-05"),
        ("05 January 2024", "2024-01-05"),
        ("Jan 5 2024", "2024-01-05"),
        ("20240131", "2024-01-31"),
        ("2024-02-29", "2024-02-29"),
        ("2024-02-30", None),
        ("2023-02-29", None),
        ("30.02.2024", None),
        ("02/30/2024", None),
        ("2024-13-01", None),
        ("31/01/2024", None),
        ("yesterday", None),
    ],
)
def test_date(raw: str, expected: str | None) -> None:
    check("date", raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-31T10:00:00", "2024-01-31 10:00:00"),
        ("2024-01-31 10:00:00", "2024-01-31 10:00:00"),
        ("2024-01-31T10:00", "2024-01-31 10:00:00"),
        ("2024-01-31T10:00:00.123456", "2024-01-31 10:00:00.123456"),
        ("2024-01-31T10:00:00.5", "2024-01-31 10:00:00.500000"),
        ("2024-01-31T10:00:00Z", "2024-01-31 10:00:00"),
        ("2024-01-31T10:00:00.250Z", "2024-01-31 10:00:00.250000"),
        ("2024-01-31T10:00:00+02:00", "2024-01-31 08:00:00"),
        ("2024-01-31 10:00:00-0500", "2024-01-31 15:00:00"),
        ("2024-01-31T23:30:00-01:00", "2024-02-01 00:30:00"),
        ("2024-01-31", "2024-01-31 00:00:00"),
        ("31.01.2024 10:00", "2024-01-31 10:00:00"),
        ("31.01.2024 10:00:05", "2024-01-31 10:00:05"),
        ("01/31/2024 10:00:00 PM", "2024-01-31 22:00:00"),
        ("2024-02-30 10:00", None),
        ("2024-02-30T10:00:00+02:00", None),
        ("30.02.2024 10:00", None),
        ("2024-01-31T25:00:00", None),
        ("garbage", None),
    ],
)
def test_timestamp(raw: str, expected: str | None) -> None:
    check("timestamp", raw, expected)


def test_timestamp_batch_with_an_impossible_date_keeps_the_others() -> None:
    assert standardize("timestamp", ["2024-01-31T10:00:00", "2024-02-30T10:00:00", "2024-03-01 12:30"]) == [
        ("2024-01-31 10:00:00", False),
        (None, True),
        ("2024-03-01 12:30:00", False),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-31T10:00:00+02:00", "2024-01-31 08:00:00Z"),
        ("2024-01-31T10:00:00Z", "2024-01-31 10:00:00Z"),
        ("2024-01-31 10:00:00", "2024-01-31 10:00:00Z"),  # no zone: taken as UTC
        ("2024-01-31 10:00:00+05:30", "2024-01-31 04:30:00Z"),
        ("2024-02-30T10:00:00Z", None),
    ],
)
def test_timestamptz(raw: str, expected: str | None) -> None:
    check("timestamptz", raw, expected)


def test_timestamp_with_space_before_offset() -> None:
    check("timestamp", "2024-01-31 10:00:00 +02:00", "2024-01-31 08:00:00")


def test_timestamp_with_nanoseconds() -> None:
    [(value, failed)] = standardize("timestamp", ["2024-01-31 10:00:00.123456789"])
    assert failed is False
    assert value is not None and value.startswith("2024-01-31 10:00:00.12345")


# --- json --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"b": 1, "a": [1, 2]}', '{"a":[1,2],"b":1}'),
        ('{"z": {"y": 1, "x": 2}}', '{"z":{"x":2,"y":1}}'),
        ("[3, 1, 2]", "[3,1,2]"),
        ('"text"', '"text"'),
        ('{"name": "K\\u00f6ln"}', '{"name":"Köln"}'),
        ("{bad", None),
        ("{'a': 1}", None),
        ('{"a": 1', None),
    ],
)
def test_json(raw: str, expected: str | None) -> None:
    check("json", raw, expected)


def test_json_key_order_does_not_matter() -> None:
    [(first, _), (second, _)] = standardize("json", ['{"a": 1, "b": 2}', '{ "b":2,"a":1 }'])
    assert first == second == '{"a":1,"b":2}'


@pytest.mark.parametrize("raw", ["NaN", '{"a": NaN}', "[Infinity]"])
def test_json_rejects_nan(raw: str) -> None:
    check("json", raw, None)


# --- empty values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", sorted(set(st.STANDARDIZERS) - {"string"}))
def test_empty_and_whitespace_are_null_not_failures(type_name: str) -> None:
    assert standardize(type_name, ["", "   ", "\t", None]) == [(None, False)] * 4


def test_string_is_kept_as_is() -> None:
    assert standardize("string", ["  a  ", "x", None]) == [("  a  ", False), ("x", False), (None, False)]


# --- row hashes --------------------------------------------------------------------------------------


def arrays(**columns: list[str | None]) -> dict[str, pa.Array]:
    return {name: pa.array(values, pa.string()) for name, values in columns.items()}


def test_row_hash_is_32_hex_chars() -> None:
    hashes = row_hashes(arrays(id=["1", "2"], name=["a", None])).to_pylist()
    assert len(hashes) == 2
    for value in hashes:
        assert len(value) == 32
        int(value, 16)
    assert hashes[0] != hashes[1]


def test_row_hash_ignores_column_order() -> None:
    first = row_hashes(arrays(id=["1"], name=["a"], amount=["2.5"]))
    second = row_hashes(arrays(amount=["2.5"], id=["1"], name=["a"]))
    assert first.to_pylist() == second.to_pylist()


def test_row_hash_ignores_an_added_null_column() -> None:
    before = row_hashes(arrays(id=["1", "2"], name=["a", "b"]))
    after = row_hashes(arrays(id=["1", "2"], name=["a", "b"], email=[None, None]))
    assert before.to_pylist() == after.to_pylist()


@pytest.mark.parametrize(
    "changed",
    [
        {"id": ["1"], "name": ["b"]},  # a value
        {"id": ["2"], "name": ["a"]},  # another value
        {"id": ["1"], "name": [None]},  # a value becomes NULL
        {"id": ["1"], "name": [""]},  # an empty string is not NULL
        {"id": ["1"], "nome": ["a"]},  # the same value under another column
        {"id": ["1"], "name": ["a"], "email": ["x"]},  # a new non-null column
        {"id": ["1a"], "name": [""]},  # the same characters split differently
    ],
)
def test_row_hash_changes_with_any_value(changed: dict[str, list[str | None]]) -> None:
    base = row_hashes(arrays(id=["1"], name=["a"])).to_pylist()
    assert row_hashes(arrays(**changed)).to_pylist() != base


def test_row_hash_needs_a_column() -> None:
    with pytest.raises(ValueError):
        row_hashes({})


# --- validate end to end -----------------------------------------------------------------------------


def pipeline(tmp_path: Path, columns: dict[str, str], target: str = "") -> LoadedConfig:
    """A pipeline reading tmp_path/data with the given declared columns and extra `target:` lines."""
    (tmp_path / "data").mkdir(exist_ok=True)
    lines = ["sources:", "  - type: local", "    path: data", "target:", "  table: t"]
    lines += [f"  {line}" for line in target.splitlines() if line.strip()]
    lines += ["schema:", "  columns:"] + [f"    {name}: {type_name}" for name, type_name in columns.items()]
    return load_config(write(tmp_path / "pipeline.yaml", "\n".join(lines) + "\n"))


def extract_and_validate(loaded: LoadedConfig, tmp_path: Path) -> CheckReport:
    return check_pipeline(loaded, tmp_path / "staging", keep_rows=1000)


def validated_rows(result: CheckReport) -> list[dict[str, Any]]:
    return result.first_rows


def rejected_rows(result: CheckReport) -> list[dict[str, Any]]:
    assert result.rejects_path is not None
    return [json.loads(line) for line in result.rejects_path.read_text(encoding="utf-8").splitlines()]


COLUMNS = {"id": "integer", "amount": "decimal", "day": "date", "ok": "boolean"}


def test_validate_splits_valid_and_rejected_rows(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, COLUMNS)
    source = write(
        tmp_path / "data" / "orders.csv",
        """\
        id,amount,day,ok,note
        1,12.50,2024-01-31,yes,first
        x,1,2024-01-31,no,bad id
        3,1;5,2024-02-30,maybe,bad amount first
        4, 7 ,31.01.2024,0,
        5,,,,empty is null
        """,
    )
    result = extract_and_validate(loaded, tmp_path)
    assert (result.rows_extracted, result.rows_valid, result.rejected) == (5, 3, 2)
    assert result.column_types == {**COLUMNS, "note": "string"}

    rows = validated_rows(result)
    assert [{k: v for k, v in row.items() if k != HASH_COLUMN} for row in rows] == [
        {"id": "1", "amount": "12.5", "day": "2024-01-31", "ok": "t", "note": "first"},
        {"id": "4", "amount": "7", "day": "2024-01-31", "ok": "f", "note": None},
        {"id": "5", "amount": None, "day": None, "ok": None, "note": "empty is null"},
    ]
    assert all(len(row[HASH_COLUMN]) == 32 for row in rows)
    assert len({row[HASH_COLUMN] for row in rows}) == 3

    first, second = rejected_rows(result)
    assert first == {
        "raw_record": {"id": "x", "amount": "1", "day": "2024-01-31", "ok": "no", "note": "bad id"},
        "column": "id",
        "reason": "column 'id': 'x' is not an integer (32-bit)",
        "source": str(source),
        "source_row": 2,
    }
    # Several columns fail: the first declared one gives the reason.
    assert second["column"] == "amount"
    assert second["reason"] == "column 'amount': '1;5' is not a decimal number (with a dot)"
    assert (second["source"], second["source_row"]) == (str(source), 3)
    assert second["raw_record"]["day"] == "2024-02-30"
    assert [describe_reject(r) for r in result.first_rejects] == [
        f"{source} record 2: column 'id': 'x' is not an integer (32-bit)",
        f"{source} record 3: column 'amount': '1;5' is not a decimal number (with a dot)",
    ]


def test_validate_hash_uses_canonical_values(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, COLUMNS)
    write(tmp_path / "data" / "a.csv", "id,amount,day,ok\n1,12.50,2024-01-31,yes\n")
    write(tmp_path / "data" / "b.csv", "ok,day,amount,id\nTRUE,31.01.2024,0012.5, 1.0 \n")
    rows = validated_rows(extract_and_validate(loaded, tmp_path))
    assert [(r["id"], r["amount"], r["day"], r["ok"]) for r in rows] == [("1", "12.5", "2024-01-31", "t")] * 2
    assert rows[0][HASH_COLUMN] == rows[1][HASH_COLUMN]
    expected = row_hashes(arrays(id=["1"], amount=["12.5"], day=["2024-01-31"], ok=["t"])).to_pylist()[0]
    assert rows[0][HASH_COLUMN] == expected


def test_validate_rejects_bad_json_and_timestamp(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {"id": "bigint", "payload": "json", "at": "timestamptz"})
    source = write(
        tmp_path / "data" / "events.jsonl",
        """\
        {"id": 1, "payload": "{\\"b\\": 1, \\"a\\": 2}", "at": "2024-01-31T10:00:00+01:00"}
        {"id": 2, "payload": "{oops", "at": "2024-01-31T10:00:00Z"}
        {"id": 3, "payload": "[]", "at": "31.02.2024 10:00"}
        """,
    )
    result = extract_and_validate(loaded, tmp_path)
    assert [(r["id"], r["payload"], r["at"]) for r in validated_rows(result)] == [
        ("1", '{"a":2,"b":1}', "2024-01-31 09:00:00Z")
    ]
    assert [(r["column"], r["reason"], r["source"], r["source_row"]) for r in rejected_rows(result)] == [
        ("payload", "column 'payload': '{oops' is not valid JSON", str(source), 2),
        ("at", "column 'at': '31.02.2024 10:00' is not a timestamp", str(source), 3),
    ]


def test_validate_merge_rejects_empty_primary_key(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {"id": "integer", "name": "string"}, target="mode: merge\nprimary_key: [id]")
    source = write(tmp_path / "data" / "a.csv", "id,name\n1,a\n,b\n  ,c\n4,d\n")
    result = extract_and_validate(loaded, tmp_path)
    assert [(r["id"], r["name"]) for r in validated_rows(result)] == [("1", "a"), ("4", "d")]
    rejects = rejected_rows(result)
    assert [(r["column"], r["reason"], r["source_row"]) for r in rejects] == [
        ("id", "column 'id': the primary key is empty", 2),
        ("id", "column 'id': the primary key is empty", 3),
    ]
    assert all(r["source"] == str(source) for r in rejects)
    assert rejects[0]["raw_record"] == {"id": None, "name": "b"}


def test_validate_append_allows_empty_values(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {"id": "integer", "name": "string"})
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n,b\n")
    result = extract_and_validate(loaded, tmp_path)
    assert [(r["id"], r["name"]) for r in validated_rows(result)] == [("1", "a"), (None, "b")]
    assert result.rejected == 0
    assert rejected_rows(result) == []


def test_validate_all_rows_rejected(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {"id": "integer"})
    write(tmp_path / "data" / "a.csv", "id\nx\ny\n")
    result = extract_and_validate(loaded, tmp_path)
    assert (result.rows_extracted, result.rows_valid, result.rejected) == (2, 0, 2)
    assert validated_rows(result) == []


def test_validate_keeps_text_that_looks_like_null(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, {"id": "integer", "country": "string"})
    write(tmp_path / "data" / "a.csv", "id,country\n1,NA\n2,null\n3,N/A\n4,nan\n")
    rows = validated_rows(extract_and_validate(loaded, tmp_path))
    assert [r["country"] for r in rows] == ["NA", "null", "N/A", "nan"]


def test_decimals_with_an_exponent_are_written_out() -> None:
    values, failed = standardize_decimal(pa.array(["100000", "1e5", "1.0E5", "1.50e3", "-2E-2"]))
    assert values.to_pylist() == ["100000", "100000", "100000", "1500", "-0.02"]
    assert not any(failed.to_pylist())


def test_hour_only_timestamps_parse_the_same_in_clean_and_mixed_batches() -> None:
    clean = standardize_timestamp(pa.array(["2024-01-31T10"]))[0].to_pylist()
    mixed = standardize_timestamp(pa.array(["2024-01-31T10", "31.01.2024 10:00"]))[0].to_pylist()
    assert clean == mixed[:1] == ["2024-01-31 10:00:00"]
