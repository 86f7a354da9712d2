"""The table's row counter: one per table, whichever pipelines load into it."""

from __future__ import annotations

from pathlib import Path

from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write

BODY = "sources:\n  - path: ../{folder}\ntarget:\n  table: shared\n  db_schema: {schema}\n"


def test_two_pipelines_into_one_table_report_the_table_s_rows(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "first" / "a.csv", "id\n" + "".join(f"{i}\n" for i in range(10)))
    write(tmp_path / "second" / "b.csv", "id\n" + "".join(f"{i}\n" for i in range(5, 30)))
    first = make_pipeline(BODY.replace("{folder}", "first"), name=f"first_{db_schema}")
    second = make_pipeline(BODY.replace("{folder}", "second"), name=f"second_{db_schema}")
    assert run_pipeline(first).row_count == 10
    assert run_pipeline(second).row_count == 30  # 25 read, 5 already there
    write(tmp_path / "first" / "c.csv", "id\n100\n")
    assert run_pipeline(first).row_count == 31
    assert run_pipeline(second).row_count == 31  # a run with nothing new reports the table, not its own loads
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".shared') == [(31,)]


def test_a_new_table_s_count_is_the_rows_its_first_run_kept(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch
) -> None:
    """A run that creates the table takes its count from what it inserted, not from counting: rows repeated
    across batches (removed when the index is built) and keys repeated in merge mode are not counted twice."""
    from elt_dagster.engine.sources.files import delimited

    monkeypatch.setattr(delimited, "BATCH_ROWS", 4)
    write(tmp_path / "data" / "a.csv", "id,v\n" + "".join(f"{i},x\n" for i in [*range(10), *range(6)]))
    appended = make_pipeline(BODY.replace("{folder}", "data"), name=f"append_{db_schema}")
    assert run_pipeline(appended).row_count == 10
    merge = BODY.replace("{folder}", "data").replace(
        "table: shared", "table: merged\n  mode: merge\n  primary_key: [id]"
    )
    write(tmp_path / "data" / "a.csv", "id,v\n" + "".join(f"{i},x\n" for i in range(10)) + "3,y\n4,y\n")
    assert run_pipeline(make_pipeline(merge, name=f"merge_{db_schema}")).row_count == 10
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".shared') == [(10,)]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".merged') == [(10,)]
