"""The quarantine table keeps a reason's kind apart from the value (issue 24), also in a table made before."""

from __future__ import annotations

from pathlib import Path

import psycopg

from elt_dagster.engine.load.quarantine import quarantine_summary
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write

CONFIG = """
sources:
  - path: ../data
target:
  table: t
  db_schema: {schema}
schema:
  columns:
    id: integer
    amount: decimal
"""


def test_an_existing_quarantine_table_gets_the_kind_columns_and_counts_by_kind(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    with psycopg.connect(database_url) as conn:  # as runs before issue 24 made it, with one record
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{db_schema}"')
        conn.execute(
            f'CREATE TABLE "{db_schema}".t__rejected (id bigserial PRIMARY KEY, raw_record jsonb, column_name text, '
            "reason text NOT NULL, source text, source_row bigint, run_id text, "
            "rejected_at timestamptz NOT NULL DEFAULT now(), reject_hash uuid UNIQUE)"
        )
        conn.execute(
            f'INSERT INTO "{db_schema}".t__rejected (raw_record, column_name, reason, source, source_row, run_id) '
            "VALUES ('{\"id\": \"1\", \"amount\": \"x\"}', 'amount', 'column ''amount'': ''x'' is not a decimal', "
            "'old.csv', 2, 'old')"
        )
    write(tmp_path / "data" / "a.csv", "id,amount\n" + "".join(f"{i},{i}.0.0\n" for i in range(60)) + "61,-2\n")
    config = make_pipeline(CONFIG.format(schema=db_schema))
    report = run_pipeline(config)
    assert (report.rows_valid, report.rejected) == (1, 60)
    kinds = fetch(
        database_url, f'SELECT reason_kind, count(DISTINCT value), count(*) FROM "{db_schema}".t__rejected GROUP BY 1'
    )
    assert sorted(kinds, key=str) == [("is not a decimal number (with a dot)", 60, 60), (None, 0, 1)]
    with psycopg.connect(database_url) as conn:
        summary = quarantine_summary(conn, config.config.target, report.run_id)
    assert summary.by_reason == [
        ("column 'amount': is not a decimal number (with a dot)", 60, "0.0.0"),
        ("column 'amount': 'x' is not a decimal", 1, None),  # stored before kinds: by its whole reason
    ]
    assert summary.by_column == [("amount", 61)]
