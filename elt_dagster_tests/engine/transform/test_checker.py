"""The validate-and-count pass: every column type holds on a batch with nothing to load, and a run loads the good
files beside one whose every record was set aside while reading."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.staging import SOURCE_COLUMN, SOURCE_ROW_COLUMN, StagingWriter
from elt_dagster.engine.transform.checker import BatchChecker
from elt_dagster.engine.transform.validate import HASH_COLUMN
from elt_dagster.engine.types import TYPES
from elt_dagster_tests.conftest import fetch, write

DECLARED_TYPES = sorted(TYPES)
"""Every type a schema can declare, from the type registry: a new type is tested here by construction."""

EMPTY_RECORD = "the record is empty: every value is empty"
NOT_ANY_TYPE = ["x\x00", "\x00"]
"""Values no type accepts (text can't hold a NUL character)."""


def test_every_declared_type_has_a_standardiser_and_a_description() -> None:
    assert all(callable(TYPES[name].standardize) and TYPES[name].description for name in DECLARED_TYPES)


def batch_of(values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """A conformed batch of one column `v`, as a reader hands it on (source file and record numbers)."""
    rows = len(values)
    source = pa.array(["in.csv"] * rows, pa.string())
    return pa.table({"v": values, SOURCE_COLUMN: source, SOURCE_ROW_COLUMN: pa.array(range(2, rows + 2), pa.int64())})


BATCHES = {
    "empty": (pa.array([], pa.string()), []),
    "every record set aside while reading (no chunks)": (pa.chunked_array([], pa.string()), []),
    "every record set aside while reading (a slice)": (pa.array(["1", "x"], pa.string()).slice(2), []),
    "all NULL": (pa.array([None, None], pa.string()), [EMPTY_RECORD] * 2),
    "all NULL, untyped": (pa.nulls(2), [EMPTY_RECORD] * 2),
    "all blank": (pa.array(["", "  "], pa.string()), [EMPTY_RECORD] * 2),
    "every value rejected": (pa.array(NOT_ANY_TYPE, pa.string()), None),
}


@pytest.mark.parametrize("type_name", DECLARED_TYPES)
@pytest.mark.parametrize("case", list(BATCHES))
def test_every_type_holds_on_a_batch_with_nothing_to_load(tmp_path: Path, type_name: str, case: str) -> None:
    values, reasons = BATCHES[case]
    if reasons is None:  # each value named, with what the type expects
        reasons = [f"column 'v': '{v}' is not {TYPES[type_name].description}" for v in NOT_ANY_TYPE]
    with StagingWriter(tmp_path, ["v"]) as staging:
        checker = BatchChecker({"v": type_name}, [], staging)
        [rows] = list(checker.valid_rows([(batch_of(values), 0)]))
    assert rows.num_rows == 0 and rows.column_names == ["v", HASH_COLUMN]
    assert (checker.tally.valid, checker.tally.invalid) == (0, len(reasons))
    rejects = [json.loads(line) for line in staging.rejects_path.read_text(encoding="utf-8").splitlines()]
    assert [r["reason"] for r in rejects] == reasons
    assert [r["source_row"] for r in rejects] == list(range(2, len(reasons) + 2))


CONFIG = """
sources:
  - type: local
    path: ../data
target:
  db_schema: {schema}
  table: flags
schema:
  columns:
    id: integer
    flag: boolean
"""


def test_a_file_whose_every_record_is_set_aside_does_not_fail_the_run(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """Issue 21, item 1: its batch is empty after reading; the boolean fast path summed no values (None + None)."""
    write(tmp_path / "data" / "good.csv", "id,flag\n1,yes\n2,no\n")
    write(tmp_path / "data" / "bad.csv", "id,flag\n3,yes,extra\n")
    report = run_pipeline(make_pipeline(CONFIG))
    assert (report.inserted, report.rejected) == (2, 1)
    assert fetch(database_url, f'SELECT id, flag FROM "{db_schema}".flags ORDER BY id') == [(1, True), (2, False)]
    quarantined = fetch(database_url, f'SELECT source, source_row, reason FROM "{db_schema}".flags__rejected')
    [(source, source_row, reason)] = quarantined
    assert source.endswith("bad.csv") and source_row == 1 and "field" in reason
