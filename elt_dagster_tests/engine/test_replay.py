"""Replay: quarantined records validated again with the current config; those that pass are loaded once."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from elt_dagster.engine import replay as replay_module
from elt_dagster.engine.db import DatabaseError
from elt_dagster.engine.load.quarantine import WHOLE_RECORD, quarantine_summary
from elt_dagster.engine.replay import replay_rejects
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.staging import STAGING_FILE, StagingSpaceError
from elt_dagster_tests.conftest import fetch, write

CONFIG = """
sources:
  - type: local
    path: ../data
target:
  db_schema: {schema}
  table: items
  {extra}
schema:
  columns:
    id: integer
    name: string
"""


def _pipeline(make_pipeline, extra: str = ""):
    return make_pipeline(CONFIG.replace("{extra}", extra))


def _quarantine(database_url: str, schema: str, records: list[tuple[dict, str | None, str]]) -> None:
    """Records as an earlier config (or another tool) rejected them: (raw record, column, reason)."""
    with psycopg.connect(database_url) as conn:
        texts = [json.dumps(raw) for raw, _, _ in records]
        for raw, column, reason in records:
            i = 100 + texts.index(json.dumps(raw))  # the same record, the same line of old.csv
            conn.execute(
                f'INSERT INTO "{schema}".items__rejected (raw_record, column_name, reason, source, source_row, run_id) '
                "VALUES (%s, %s, %s, 'old.csv', %s, 'old-run')",
                (json.dumps(raw), column, reason, i),
            )


def test_records_that_now_pass_are_loaded_once_and_leave_quarantine(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b\nx,c\n")
    config = _pipeline(make_pipeline)
    first = run_pipeline(config)
    assert (first.inserted, first.rejected) == (2, 1)
    _quarantine(
        database_url,
        db_schema,
        [
            ({"id": "3", "name": "c"}, "id", "an old reason"),  # passes now
            ({"id": "1", "name": "a"}, "id", "an old reason"),  # passes, and the table has it already
            (
                {"id": "4.5", "name": "d"},
                "id",
                "column 'id': '4.5' is not an integer (32-bit)",
            ),  # still fails, same reason
        ],
    )
    report = replay_rejects(config)
    assert (report.examined, report.recovered, report.inserted, report.duplicates) == (4, 2, 1, 1)
    assert (report.still_rejected, report.reasons_changed, report.remaining) == (2, 0, 2)
    assert report.row_count == 3
    assert fetch(database_url, f'SELECT id, name, _elt_source FROM "{db_schema}".items ORDER BY id') == [
        (1, "a", str(tmp_path / "data" / "a.csv")),
        (2, "b", str(tmp_path / "data" / "a.csv")),
        (3, "c", "old.csv"),
    ]
    left = fetch(database_url, f"SELECT raw_record->>'id' FROM \"{db_schema}\".items__rejected ORDER BY id")
    assert left == [("x",), ("4.5",)]
    again = replay_rejects(config)
    assert (again.examined, again.recovered, again.inserted, again.remaining) == (2, 0, 0, 2)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(3,)]


def test_a_record_still_rejected_takes_its_new_reason_once(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n")
    config = _pipeline(make_pipeline)
    run_pipeline(config)
    raw = {"id": "x", "name": "b"}
    _quarantine(database_url, db_schema, [(raw, "name", "reason one"), (raw, "name", "reason two")])
    report = replay_rejects(config)
    assert (report.recovered, report.still_rejected) == (0, 2)
    rows = fetch(database_url, f'SELECT column_name, reason FROM "{db_schema}".items__rejected')
    assert rows == [("id", "column 'id': 'x' is not an integer (32-bit)")]
    # the quarantine's dedup key follows the new reason: loading the same record again adds nothing
    assert replay_rejects(config).reasons_changed == 0


def test_whole_line_records_stay_as_they_are(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b,extra\n")
    config = _pipeline(make_pipeline)
    run_pipeline(config)
    report = replay_rejects(config)
    assert (report.examined, report.not_replayable, report.remaining) == (0, 1, 1)
    with psycopg.connect(database_url) as conn:
        summary = quarantine_summary(conn, config.config.target, "none")
    assert summary.by_column == [(WHOLE_RECORD, 1)]


def test_merge_mode_replay_updates_by_key(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n2,b\n")
    config = _pipeline(make_pipeline, "mode: merge\n  primary_key: [id]")
    run_pipeline(config)
    _quarantine(
        database_url, db_schema, [({"id": "2", "name": "B"}, "name", "old"), ({"id": "3", "name": "c"}, "id", "old")]
    )
    report = replay_rejects(config)
    assert (report.recovered, report.inserted, report.updated) == (2, 1, 1)
    assert fetch(database_url, f'SELECT id, name FROM "{db_schema}".items ORDER BY id') == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
    ]


def test_a_replay_counts_records_superseded_by_a_later_one_of_their_key(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n")
    config = _pipeline(make_pipeline, "mode: merge\n  primary_key: [id]")
    run_pipeline(config)
    records = [({"id": "2", "name": "first"}, "name", "old"), ({"id": "2", "name": "second"}, "name", "old")]
    _quarantine(database_url, db_schema, [*records, ({"id": "1", "name": "a"}, "name", "old")])
    report = replay_rejects(config)
    assert (report.recovered, report.inserted, report.superseded, report.duplicates) == (3, 1, 1, 1)
    assert "1 superseded by a later record of their key" in report.summary()
    assert fetch(database_url, f'SELECT name FROM "{db_schema}".items WHERE id = 2') == [("second",)]


def test_a_failed_replay_changes_nothing(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    """Rows loaded and rows released from quarantine commit together: a failure at the end undoes both."""
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\n")
    config = _pipeline(make_pipeline)
    run_pipeline(config)
    _quarantine(database_url, db_schema, [({"id": "3", "name": "c"}, "id", "old")])
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f'CREATE FUNCTION "{db_schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
            "RAISE EXCEPTION 'no deletes today'; END $$"
        )
        conn.execute(
            f'CREATE TRIGGER refuse BEFORE DELETE ON "{db_schema}".items__rejected '
            f'FOR EACH ROW EXECUTE FUNCTION "{db_schema}".refuse()'
        )
    with pytest.raises(DatabaseError, match="no deletes today"):
        replay_rejects(config)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(1,)]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items__rejected') == [(1,)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP TRIGGER refuse ON "{db_schema}".items__rejected')
    assert replay_rejects(config).inserted == 1
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(2,)]
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items__rejected') == [(0,)]


def test_nothing_to_replay_before_the_first_load(tmp_path: Path, make_pipeline) -> None:
    (tmp_path / "data").mkdir()
    report = replay_rejects(_pipeline(make_pipeline))
    assert (report.examined, report.recovered, report.remaining) == (0, 0, 0)


def test_a_date_format_fixed_in_the_yaml_recovers_exactly_those_rows(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,day\n1,2024-01-31\n2,31/01/2024\n3,15/02/2024\n4,someday\n")
    body = "sources:\n  - path: ../data\ntarget:\n  db_schema: {schema}\n  table: items\nschema:\n  columns:\n"
    body += "    id: integer\n"
    first = run_pipeline(make_pipeline(body + "    day: date\n"))
    assert (first.inserted, first.rejected) == (1, 3)
    fixed = make_pipeline(body + "    day: {type: date, format: '%d/%m/%Y'}\n")
    report = replay_rejects(fixed)
    assert (report.examined, report.recovered, report.inserted, report.still_rejected) == (3, 2, 2, 1)
    days = fetch(database_url, f'SELECT id, day::text FROM "{db_schema}".items ORDER BY id')
    assert days == [(1, "2024-01-31"), (2, "2024-01-31"), (3, "2024-02-15")]
    left = fetch(database_url, f"SELECT raw_record->>'day', reason FROM \"{db_schema}\".items__rejected")
    assert left == [("someday", "column 'day': 'someday' is not a date")]
    again = replay_rejects(fixed)
    assert (again.recovered, again.inserted) == (0, 0)
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items') == [(3,)]


def test_a_rule_widened_in_the_yaml_recovers_its_rows(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,status\n1,open\n2,shipped\n3,lost\n")
    body = "sources:\n  - path: ../data\ntarget:\n  db_schema: {schema}\n  table: items\nschema:\n  columns:\n"
    first = run_pipeline(make_pipeline(body + "    id: integer\n    status: {type: string, allowed: [open, paid]}\n"))
    assert first.rejected == 2
    report = replay_rejects(
        make_pipeline(body + "    id: integer\n    status: {type: string, allowed: [open, paid, shipped]}\n")
    )
    assert (report.recovered, report.still_rejected, report.reasons_changed) == (1, 1, 1)
    assert fetch(database_url, f'SELECT id FROM "{db_schema}".items ORDER BY id') == [(1,), (2,)]
    reason = fetch(database_url, f'SELECT reason FROM "{db_schema}".items__rejected')[0][0]
    assert "'lost' is not one of open, paid, shipped" in reason


def test_the_quarantine_summary_counts_in_one_scan_and_keeps_the_most_frequent(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\nx,a\nx,b\ny,c\n1,d\n1,e,extra\n")
    config = _pipeline(make_pipeline)
    report = run_pipeline(config)
    _quarantine(database_url, db_schema, [({"id": "z", "name": "f"}, "name", "old")])
    with psycopg.connect(database_url) as conn:
        summary = quarantine_summary(conn, config.config.target, report.run_id, limit=2)
    assert (summary.total, summary.added_by_run) == (5, 4)
    assert summary.by_column == [("id", 3), (WHOLE_RECORD, 1)]  # `name` (1) is past the limit
    # counted by kind: 'x' twice and 'y' are one reason (issue 24)
    assert summary.by_reason[0] == ("column 'id': is not an integer (32-bit)", 3, "x") and len(summary.by_reason) == 2
    assert len(summary.latest) == 2 and summary.latest[0][:3] == ('{"id": "z", "name": "f"}', "name", "old")


def test_a_full_staging_disk_is_one_line_and_the_quarantine_stays(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "data" / "a.csv", "id,name\n1,a\nx,b\n")
    first = run_pipeline(_pipeline(make_pipeline))
    assert (first.inserted, first.rejected) == (1, 1)
    folder = tmp_path / "replay-staging"
    folder.mkdir()
    (folder / STAGING_FILE).symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    monkeypatch.setattr(replay_module, "run_dir", lambda name, run_id: folder)
    fixed = make_pipeline(CONFIG.replace("{extra}", "").replace("id: integer", "id: string"))
    with pytest.raises(StagingSpaceError) as raised:
        replay_rejects(fixed)
    assert str(folder) in str(raised.value) and "\n" not in str(raised.value)
    assert not folder.exists()
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".items__rejected') == [(1,)]
