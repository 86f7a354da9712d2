"""Issue 24 item 7 as a user meets it: reasons counted by kind, counts that add up, superseded rows apart."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine.load import session
from elt_dagster.engine.load.quarantine import quarantine_summary
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import write
from elt_dagster_tests.faults.summary import record

pytestmark = pytest.mark.faults

CONFIG = """
sources:
  - path: ../data
target:
  table: t
  db_schema: {schema}
  {mode}
schema:
  columns:
    id: integer
    amount: decimal
"""


def test_sixty_amounts_with_thousands_separators_are_one_reason(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    rows = "".join(f'{i},"{i},063.00"\n' for i in range(60)) + "60,1.5\n61,2,3,4\n"
    write(tmp_path / "data" / "export.csv", "id,amount\n" + rows)
    config = make_pipeline(CONFIG.format(schema=db_schema, mode=""))
    report = run_pipeline(config)
    assert report.rows_read == report.rows_valid + report.rejected == 62
    with psycopg.connect(database_url) as conn:
        summary = quarantine_summary(conn, config.config.target, report.run_id)
    assert [n for _, n, _ in summary.by_reason] == [60, 1]
    record("reasons and counts", "60 amounts written 1,063.00", "one reason of 60; 62 read = 1 valid + 61 quarantined")


def test_three_rows_of_one_key_are_two_superseded(
    tmp_path: Path, make_pipeline, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts: list[session.LoadCounts] = []
    finish = session.LoadSession.finish
    monkeypatch.setattr(session.LoadSession, "finish", lambda self, *a: counts.append(finish(self, *a)) or counts[-1])
    write(tmp_path / "data" / "a.csv", "id,amount\n1,1\n2,5\n")
    config = make_pipeline(CONFIG.format(schema=db_schema, mode="mode: merge\n  primary_key: [id]"))
    run_pipeline(config)
    write(tmp_path / "data" / "b.csv", "id,amount\n1,2\n1,3\n1,4\n2,5\n")
    run_pipeline(config)
    last = counts[-1]
    assert (last.updated, last.superseded, last.rows_valid - last.updated - last.inserted - last.superseded) == (
        1,
        2,
        1,
    )
    record("reasons and counts", "3 rows of one key in a merge run", "1 updated, 2 superseded, 1 duplicate (2,5)")
