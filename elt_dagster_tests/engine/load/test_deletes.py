"""Deletes against a real PostgreSQL: keys flagged by `target.delete_column` and keys absent from a snapshot
source (`snapshot: true`), soft or hard, under the `target.max_deleted` guard, in merge and scd2 modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.load import planner
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write

FLAGGED = """
sources:
  - path: ../data
target:
  table: accounts
  db_schema: {schema}
  mode: merge
  primary_key: [id]
  delete_column: removed
  delete: DELETE_MODE
schema:
  columns:
    id: integer
    owner: string
    removed: string
"""
SNAPSHOT = """
sources:
  - path: ../data
    snapshot: true
target:
  table: accounts
  db_schema: {schema}
  mode: TABLE_MODE
  primary_key: [id]
  delete: DELETE_MODE
schema:
  columns:
    id: integer
    owner: string
    balance: integer
"""


def _rows(database_url: str, schema: str, live_only: bool = False) -> list[tuple]:
    """(id, owner, deleted?) of the table's rows by id (deleted? false where there is no `_elt_deleted_at`)."""
    where = " WHERE coalesce(to_jsonb(a) ->> '_elt_deleted_at', '') = ''" if live_only else ""
    return fetch(
        database_url,
        f"SELECT id, owner, coalesce(to_jsonb(a) ->> '_elt_deleted_at', '') <> '' FROM \"{schema}\".accounts AS a"
        f"{where} ORDER BY id",
    )


def _snapshot(folder: Path, ids: range | list[int], name: str = "snapshot.csv", bad: int | None = None) -> None:
    lines = ["id,owner,balance"] + [f"{i},o{i},{'lots' if i == bad else i * 10}" for i in ids]
    write(folder / "data" / name, "\n".join(lines) + "\n")


@pytest.mark.parametrize("path", ["producer", "database"])
@pytest.mark.parametrize("delete_mode", ["soft", "hard"])
def test_a_flagged_row_deletes_its_key(
    path: str, delete_mode: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str, monkeypatch
) -> None:
    monkeypatch.setattr(planner, *(("BULK_SHARE", 0.0) if path == "producer" else ("FETCH_HASHES_MAX_ROWS", -1)))
    write(tmp_path / "data" / "a.csv", "id,owner,removed\n1,Ann,\n2,Bob,\n3,Cid,\n4,Dee,yes\n")
    config = make_pipeline(FLAGGED.replace("DELETE_MODE", delete_mode), name="accounts")
    first = run_pipeline(config)  # a new table: the flagged key 4 is nowhere to delete, and not inserted
    assert (first.inserted, first.deleted, first.row_count) == (3, 0, 3)
    write(tmp_path / "data" / "b.csv", "id,owner,removed\n2,Bob,TRUE\n3,Cid,no\n9,Zed,1\n")
    second = run_pipeline(config)
    # 2 deleted by its flag; 3 changed (removed '' -> no); 9's flag deletes nothing (unknown key): a duplicate
    assert (second.inserted, second.updated, second.deleted, second.flagged, second.duplicates) == (0, 1, 1, 1, 1)
    soft = delete_mode == "soft"
    kept = [(2, "Bob", True)] if soft else []
    assert _rows(database_url, db_schema) == [(1, "Ann", False), *kept, (3, "Cid", False)]
    assert second.row_count == len(_rows(database_url, db_schema))
    write(tmp_path / "data" / "c.csv", "id,owner,removed\n2,Bob,TRUE\n")  # deleted already: nothing
    assert run_pipeline(config).deleted == 0
    write(tmp_path / "data" / "d.csv", "id,owner,removed\n2,Bob,\n")  # back: identical to the deleted row
    back = run_pipeline(config)
    assert (back.inserted, back.updated) == ((0, 1) if soft else (1, 0))
    assert _rows(database_url, db_schema) == [(1, "Ann", False), (2, "Bob", False), (3, "Cid", False)]


@pytest.mark.parametrize("mode", ["merge", "scd2"])
@pytest.mark.parametrize("delete_mode", ["soft", "hard"])
def test_keys_absent_from_a_snapshot_are_deleted(
    mode: str, delete_mode: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    _snapshot(tmp_path, range(1, 6))
    config = make_pipeline(SNAPSHOT.replace("TABLE_MODE", mode).replace("DELETE_MODE", delete_mode), name="accounts")
    assert run_pipeline(config).inserted == 5
    assert run_pipeline(config).files == []  # unchanged: nothing read, nothing deleted
    _snapshot(tmp_path, [1, 2, 4])
    second = run_pipeline(config)
    assert second.deleted == 2
    live = fetch(
        database_url,
        f'SELECT id FROM "{db_schema}".accounts'
        + ("_current" if mode == "scd2" else "")
        + (" WHERE _elt_deleted_at IS NULL" if delete_mode == "soft" else "")
        + " ORDER BY id",
    )
    assert live == [(1,), (2,), (4,)]
    kept = mode == "scd2" or delete_mode == "soft"
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".accounts')[0][0] == (5 if kept else 3)
    assert second.row_count == (5 if kept else 3)


def test_a_file_gone_from_a_snapshot_deletes_its_keys(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    """A snapshot of two files, one removed: the other is read whole, the removed one's keys deleted, and it is
    forgotten (the next run reads nothing). With every file gone nothing is read or deleted."""
    _snapshot(tmp_path, range(1, 6), name="a.csv")
    _snapshot(tmp_path, range(6, 8), name="b.csv")
    config = make_pipeline(SNAPSHOT.replace("TABLE_MODE", "merge").replace("DELETE_MODE", "soft"), name="accounts")
    assert run_pipeline(config).inserted == 7
    (tmp_path / "data" / "b.csv").unlink()
    second = run_pipeline(config)
    assert (second.deleted, [Path(f.path).name for f in second.files]) == (2, ["a.csv"])
    assert [row[0] for row in _rows(database_url, db_schema, live_only=True)] == [1, 2, 3, 4, 5]
    assert run_pipeline(config).files == []
    (tmp_path / "data" / "a.csv").unlink()
    last = run_pipeline(config)
    assert (last.files, last.deleted) == ([], 0)
    assert len(_rows(database_url, db_schema, live_only=True)) == 5


def test_a_snapshot_lacking_most_keys_is_refused_in_one_line(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    _snapshot(tmp_path, range(1, 21))
    config = make_pipeline(SNAPSHOT.replace("TABLE_MODE", "merge").replace("DELETE_MODE", "hard"), name="accounts")
    run_pipeline(config)
    _snapshot(tmp_path, [1, 2])  # 90% of the keys gone: a truncated export
    with pytest.raises(PipelineError) as refused:
        run_pipeline(config)
    message = str(refused.value)
    assert "\n" not in message
    assert "lacks 18 of the 20 keys" in message and "90%" in message and "max_deleted: 50%" in message
    assert "allow_deletes" in message
    assert len(_rows(database_url, db_schema)) == 20  # nothing loaded, nothing deleted
    allowed = run_pipeline(config, allow_deletes=True)
    assert (allowed.deleted, allowed.row_count) == (18, 2)


def test_a_count_limit_and_an_empty_snapshot(tmp_path: Path, make_pipeline, database_url: str, db_schema: str) -> None:
    _snapshot(tmp_path, range(1, 11))
    body = SNAPSHOT.replace("TABLE_MODE", "merge").replace("DELETE_MODE", "soft")
    config = make_pipeline(body.replace("  delete: soft\n", "  delete: soft\n  max_deleted: 1\n"), name="accounts")
    run_pipeline(config)
    _snapshot(tmp_path, range(1, 9))
    with pytest.raises(PipelineError, match=r"lacks 2 of the 10 keys .* past target.max_deleted: 1:"):
        run_pipeline(config)
    _snapshot(tmp_path, [])  # a header alone: every key absent
    with pytest.raises(PipelineError, match=r"lacks 10 of the 10 keys"):
        run_pipeline(config)
    assert len(_rows(database_url, db_schema, live_only=True)) == 10


def test_a_key_whose_row_is_in_quarantine_is_not_deleted(
    tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    _snapshot(tmp_path, range(1, 6))
    config = make_pipeline(SNAPSHOT.replace("TABLE_MODE", "merge").replace("DELETE_MODE", "hard"), name="accounts")
    run_pipeline(config)
    _snapshot(tmp_path, range(1, 5), bad=3)  # 3's balance is no number: quarantined, not a deletion
    report = run_pipeline(config)
    assert (report.invalid, report.deleted) == (1, 1)
    assert [row[0] for row in _rows(database_url, db_schema)] == [1, 2, 3, 4]


def test_snapshot_config_errors(tmp_path: Path, make_pipeline) -> None:
    (tmp_path / "data").mkdir()
    two = (
        SNAPSHOT.replace("TABLE_MODE", "merge")
        .replace("DELETE_MODE", "soft")
        .replace("sources:\n", "sources:\n  - path: ../data/other.csv\n")
    )
    write(tmp_path / "data" / "other.csv", "id\n1\n")
    with pytest.raises(ConfigError, match=r"target \(line \d+\): a snapshot source .* must be the pipeline's only"):
        make_pipeline(two, name="accounts")
    with pytest.raises(ConfigError, match=r"a snapshot source deletes the keys it lacks: it needs target.mode"):
        body = SNAPSHOT.replace("TABLE_MODE", "append").replace("DELETE_MODE", "soft")
        make_pipeline(body.replace("  primary_key: [id]\n", ""), name="accounts")
    with pytest.raises(ConfigError, match=r"target.max_deleted \(line 9\): 'some' is not a share of the table's keys"):
        make_pipeline(FLAGGED.replace("delete: DELETE_MODE", "max_deleted: some"), name="accounts")


def test_a_delete_column_the_data_lacks_is_one_line(tmp_path: Path, make_pipeline) -> None:
    write(tmp_path / "data" / "a.csv", "id,owner\n1,Ann\n")
    body = FLAGGED.replace("DELETE_MODE", "soft").replace("    removed: string\n", "")
    with pytest.raises(PipelineError, match=r"target.delete_column names a column the data does not have: 'removed'"):
        run_pipeline(make_pipeline(body, name="accounts"))
