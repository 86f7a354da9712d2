"""Canonical text and row hashes pinned to the values the code gave when tables were first loaded with them.

Tables already loaded depend on these: a faster standardiser or hasher must give exactly the same values.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from elt_dagster.engine.transform.validate import HASH_COLUMN, check_batch

MESSY_TYPES = {
    "id": "bigint",
    "qty": "integer",
    "ratio": "float",
    "amount": "decimal",
    "ok": "boolean",
    "day": "date",
    "at": "timestamp",
    "atz": "timestamptz",
    "doc": "json",
    "name": "string",
}
MESSY = {  # every column takes its slow, forgiving path
    "id": ["1", " 42 ", "9223372036854775807", "-7", "0042", None, "8"],
    "qty": ["3", "4.0", "+5", "999", None, "2147483647", "1"],
    "ratio": ["0.25", "1e3", "-0.5", "3", "inf", None, "0.1"],
    "amount": ["12.50", "0.001", "-3", "1.5e2", "+007.10", "", "99999.99"],
    "ok": ["t", "Yes", "0", "false", "ON", None, "f"],
    "day": ["2024-01-31", "2024/02/29", "31.01.2024", "20240101", "Jan 05 2024", None, "2000-01-01"],
    "at": [
        "2021-01-01T00:00:00",
        "2024-01-31 10:00",
        "2024-01-31T10:00:00.123456789",
        "31.01.2024 10:00:00",
        "2024-01-31",
        None,
        "2025-06-01T12:30:45.5",
    ],
    "atz": [
        "2024-01-31T10:00:00+02:00",
        "2024-01-31 10:00:00 Z",
        "2024-01-31 10:00",
        None,
        "2024-01-31T23:59:59-05:30",
        "2024-01-31",
        "2024-01-31T10:00:00",
    ],
    "doc": ['{"b": 1, "a": [1.50, "x"]}', "[]", None, '"s"', '{"z": {"y": null}}', "  ", "3.10"],
    "name": ["Acme, Inc. #1", 'The "Best" Shop', "Zürich\nline", "sep\x1fin\x1ename\x1b", "   ", None, ""],
}
MESSY_ROWS = [
    ["1", "3", "0.25", "12.5", "t", "2024-01-31", "2021-01-01 00:00:00", "2024-01-31 08:00:00Z",
     '{"a":[1.50,"x"],"b":1}', "Acme, Inc. #1", "699e9cd44155cb5c76f59b5187c82dce"],
    ["42", "4", "1000", "0.001", "t", "2024-02-29", "2024-01-31 10:00:00", "2024-01-31 10:00:00Z", "[]",
     'The "Best" Shop', "1067dd02f18d3749c994d6a1c4597329"],
    ["9223372036854775807", "5", "-0.5", "-3", "f", "2024-01-31", "2024-01-31 10:00:00.123456",
     "2024-01-31 10:00:00Z", None, "Zürich\nline", "d39312922563f09ecadb6d2c0b53ba23"],
    ["-7", "999", "3", "150", "f", "2024-01-01", "2024-01-31 10:00:00", None, '"s"', "sep\x1fin\x1ename\x1b",
     "d3e74e4715f2860a2d9deec64c2b3225"],
    ["42", None, "inf", "7.1", "t", "2024-01-05", "2024-01-31 00:00:00", "2024-02-01 05:29:59Z",
     '{"z":{"y":null}}', None, "b4a706364bc4af4109d0caff0fa67e6e"],
    [None, "2147483647", None, None, None, None, None, "2024-01-31 00:00:00Z", None, None,
     "c251e05a9facd86c302165f3bbc87716"],
    ["8", "1", "0.1", "99999.99", "f", "2000-01-01", "2025-06-01 12:30:45.500000", "2024-01-31 10:00:00Z", "3.10",
     None, "678be3d46b6ea3e6cc96009baf92af94"],
]  # fmt: skip

CLEAN_TYPES = {
    "id": "bigint",
    "customer": "string",
    "amount": "decimal",
    "quantity": "integer",
    "discount": "float",
    "created_at": "timestamp",
    "active": "boolean",
    "note": "string",
}
CLEAN = {  # the benchmark's kind of data: every column takes its fast path
    "id": ["1", "2", "3"],
    "customer": ["Acme, Inc. #1", 'The "Best" Shop #2', "Globex\nSecond line #3"],
    "amount": ["46193.41", "0.07", "100000.00"],
    "quantity": ["271", "1", "999"],
    "discount": ["0.5383", "0.0", "1.0"],
    "created_at": ["2021-01-21T06:38:49", "2025-06-01T12:30:45", "2020-09-13T12:26:40"],
    "active": ["true", "false", "true"],
    "note": ["plain note", 'said "ok", then left', None],
}
CLEAN_ROWS = [
    ["1", "Acme, Inc. #1", "46193.41", "271", "0.5383", "2021-01-21 06:38:49", "t", "plain note",
     "b2258f1e83d92f3e77e84e3d643fe46f"],
    ["2", 'The "Best" Shop #2', "0.07", "1", "0", "2025-06-01 12:30:45", "f", 'said "ok", then left',
     "56efb9c2a046a24716f5df7385b479a2"],
    ["3", "Globex\nSecond line #3", "100000", "999", "1", "2020-09-13 12:26:40", "t", None,
     "b485a297fdb48320f87f592a820ed7a6"],
]  # fmt: skip


def _batch(columns: dict[str, list[str | None]]) -> pa.Table:
    rows = len(next(iter(columns.values())))
    return pa.table(
        {
            **{name: pa.array(values, pa.string()) for name, values in columns.items()},
            "_elt_source": pa.array(["f"] * rows),
            "_elt_source_row": pa.array(range(1, rows + 1), pa.int64()),
        }
    )


def _hex(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize(
    ("columns", "types", "expected"),
    [(MESSY, MESSY_TYPES, MESSY_ROWS), (CLEAN, CLEAN_TYPES, CLEAN_ROWS)],
    ids=["messy", "clean"],
)
def test_canonical_text_and_row_hashes_are_pinned(columns, types, expected) -> None:
    checked = check_batch(_batch(columns), types, [])
    assert not checked.rejects
    names = [*types, HASH_COLUMN]
    got = [[row[n] for n in names[:-1]] + [_hex(row[HASH_COLUMN])] for row in checked.rows.to_pylist()]
    assert got == expected
