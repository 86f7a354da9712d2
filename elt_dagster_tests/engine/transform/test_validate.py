"""Row hashes, and validation end to end: valid rows, rejects and their reasons."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from elt_dagster.engine.config import LoadedConfig, load_config
from elt_dagster.engine.dry_run import CheckReport, check_pipeline
from elt_dagster.engine.staging import SOURCE_COLUMN, SOURCE_ROW_COLUMN
from elt_dagster.engine.transform.validate import (
    HASH_COLUMN,
    check_batch,
    describe_reject,
    row_hash_inputs,
    row_hashes,
)
from elt_dagster_tests.conftest import write

# --- row hashes --------------------------------------------------------------------------------------


def arrays(**columns: list[str | None]) -> dict[str, pa.Array]:
    return {name: pa.array(values, pa.string()) for name, values in columns.items()}


def test_row_hash_is_16_bytes() -> None:
    hashes = row_hashes(arrays(id=["1", "2"], name=["a", None]))
    assert hashes.type == pa.binary(16)
    assert len(hashes) == 2
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
        "reason_kind": "is not an integer (32-bit)",
        "value": "x",
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
    expected = row_hashes(arrays(id=["1"], amount=["12.5"], day=["2024-01-31"], ok=["t"])).to_pylist()[0].hex()
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
        (
            "payload",
            "column 'payload': '{oops' is not valid JSON that jsonb can store (no NaN, no NUL, numbers within numeric's range)",
            str(source),
            2,
        ),
        ("at", "column 'at': '31.02.2024 10:00' is not a timestamp", str(source), 3),
    ]


NUMERIC_RANGE = "is beyond PostgreSQL's numeric range (131,072 digits before the point, 16,383 after)"


@pytest.mark.parametrize(
    ("type_name", "raw", "reason"),
    [
        ("decimal", "1e100000000", f"'1e100000000' {NUMERIC_RANGE}"),
        ("decimal", "9" * 200_000, f"'{'9' * 80}' {NUMERIC_RANGE}"),
        ("date", " 10000-01-01", "' 10000-01-01' is out of range for a date (years 1 to 9999)"),
        (
            "timestamptz",
            "9999-12-31T23:00:00-05:00",
            "'9999-12-31T23:00:00-05:00' is out of range for a timestamp (years 1 to 9999)",
        ),
        ("integer", "3000000000", "'3000000000' is out of range for an integer (32-bit)"),
        ("float", "-1E400", "'-1E400' is out of range for a number (double precision)"),
        ("decimal", "1e5x", "'1e5x' is not a decimal number (with a dot)"),
        ("date", "2024-02-30", "'2024-02-30' is not a date"),
    ],
    ids=["1e100000000", "200,000 digits", "year 10000", "past 9999 in UTC", "integer", "float", "typo", "no such day"],
)
def test_a_value_beyond_its_types_range_is_rejected_with_the_range(type_name: str, raw: str, reason: str) -> None:
    batch = pa.table({"id": ["a", "b"], "v": [raw, "  "], SOURCE_COLUMN: ["f.csv"] * 2, SOURCE_ROW_COLUMN: [2, 3]})
    checked = check_batch(batch, {"id": "string", "v": type_name}, [])
    assert checked.rows.column("id").to_pylist() == ["b"]
    assert [(r["source_row"], r["column"], r["reason"]) for r in checked.rejects] == [(2, "v", f"column 'v': {reason}")]


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


def _decoded(hash_input: bytes) -> dict[str, str]:
    """The (name, value) pairs a hash input stands for: the inverse of `row_hash_inputs`."""

    def unescape(text: str) -> str:
        return re.sub("\x1b([012])", lambda m: {"0": "\x1b", "1": "\x1f", "2": "\x1e"}[m[1]], text)

    pairs = {}
    for field in hash_input.decode().split("\x1f")[1:]:
        name, separator, value = field.partition("\x1e")
        assert separator and "\x1e" not in value
        pairs[unescape(name)] = unescape(value)
    return pairs


def test_two_different_rows_never_share_a_hash_input() -> None:
    generator = random.Random(20261128)
    alphabet = ["a", "b", "x", "\x1b", "\x1e", "\x1f", "0", "1", "2", " ", "é"]
    names = ["a", "b", "a\x1fb", "c\x1e", "d\x1b1"]
    rows = []
    for _ in range(3000):
        row = {}
        for name in names:
            if generator.random() < 0.3:
                row[name] = None
            else:
                row[name] = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 6)))
        rows.append(row)
    columns = {name: pa.array([row[name] for row in rows], pa.string()) for name in names}
    inputs = row_hash_inputs(columns).to_pylist()
    for row, hash_input in zip(rows, inputs, strict=True):
        assert _decoded(hash_input) == {k: v for k, v in row.items() if v is not None}
    distinct_rows = {tuple(sorted((k, v) for k, v in row.items() if v is not None)) for row in rows}
    assert len(set(inputs)) == len(distinct_rows)


def test_separator_characters_inside_values_are_not_separators() -> None:
    one = row_hashes(arrays(a=["x\x1fb\x1ey"], b=[None])).to_pylist()
    two = row_hashes(arrays(a=["x"], b=["y"])).to_pylist()
    assert one != two
    plain = row_hash_inputs(arrays(id=["1"], name=["Anna"])).to_pylist()
    assert plain == [b"\x1fid\x1e1\x1fname\x1eAnna"]  # text without separators hashes as it always did


def test_sixty_bad_amounts_share_one_reason_kind_and_keep_their_values() -> None:
    """Issue 24: the reason's kind is kept apart from the value, so that rejects can be counted by kind."""
    import pyarrow as pa

    from elt_dagster.engine.names import SOURCE_COLUMN, SOURCE_ROW_COLUMN
    from elt_dagster.engine.transform.validate import check_batch

    amounts = [f"{i},063.00" for i in range(60)] + ["12.5", None]
    batch = pa.table(
        {
            "amount": pa.array(amounts, pa.string()),
            SOURCE_COLUMN: pa.array(["a.csv"] * 62, pa.string()),
            SOURCE_ROW_COLUMN: pa.array(range(2, 64), pa.int64()),
        }
    )
    rejects = check_batch(batch, {"amount": "decimal"}, ["amount"]).rejects
    kinds = [(r["column"], r["reason_kind"]) for r in rejects]
    assert kinds == [("amount", "is not a decimal number (with a dot)")] * 60 + [
        (None, "the record is empty: every value is empty")
    ]
    assert [r["value"] for r in rejects] == [*amounts[:60], None]
    assert rejects[0]["reason"] == "column 'amount': '0,063.00' is not a decimal number (with a dot)"
    assert rejects[-1]["reason"] == "the record is empty: every value is empty"
