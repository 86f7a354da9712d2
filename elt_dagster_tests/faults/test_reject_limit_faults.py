"""A file of garbage against `schema.max_rejected: 0`: the run fails in one line and commits no row, the rejects are
listed by `elt-dagster rejects`, and once the YAML is fixed the next run loads the file (issue 24, item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.cli import main
from elt_dagster.engine.reject_limit import RejectLimitExceeded
from elt_dagster.engine.replay import replay_rejects
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.summary import record

pytestmark = pytest.mark.faults

SUITE = "reject limit"
PIPELINE = """
sources:
  - path: ../data
target:
  table: items
  db_schema: {schema}
schema:
  columns:
    id: integer
    code: {code}
  max_rejected: 0
"""


def test_only_bad_rows_fail_cleanly_and_load_after_the_yaml_is_fixed(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "data" / "codes.csv", "id,code\n1,A-1\n2,B-2\n3,C-3\n")
    with pytest.raises(RejectLimitExceeded) as failed:
        run_pipeline(make_pipeline(PIPELINE.replace("{code}", "integer")))
    message = str(failed.value)
    assert "\n" not in message and "Traceback" not in message
    assert "3 of 3 records read were rejected (100%), past schema.max_rejected: 0," in message
    assert fetch(database_url, "SELECT to_regclass(%s)", f'"{db_schema}".items') == [(None,)]
    quarantine = f"SELECT raw_record->>'code' FROM \"{db_schema}\".items__rejected ORDER BY 1"
    assert fetch(database_url, quarantine) == [("A-1",), ("B-2",), ("C-3",)]
    assert main(["rejects", str(tmp_path / "configs" / "orders.yaml")]) == 0
    assert "A-1" in capsys.readouterr().out
    fixed = make_pipeline(PIPELINE.replace("{code}", "string"))
    assert run_pipeline(fixed).inserted == 3  # the file was not recorded as loaded: it is read again
    assert fetch(database_url, f'SELECT id, code FROM "{db_schema}".items ORDER BY 1') == [
        (1, "A-1"),
        (2, "B-2"),
        (3, "C-3"),
    ]
    replay_rejects(fixed)  # the failed run's records settle: they leave the quarantine, no row is loaded twice
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(3,)]
    assert fetch(database_url, quarantine) == []
    record(SUITE, "a file of only bad rows under max_rejected: 0", "one-line error, no row; loads after the fix")
