"""The quarantine in Dagster (`orchestration/replay.py`): its own asset, and the `<name>_replay_rejects` job that
recovers what a fix allows."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, DagsterInstance, instance_for_test

from elt_dagster.definitions import build_definitions
from elt_dagster.orchestration.replay import RECOVERED_TAG
from elt_dagster_tests.conftest import fetch, write


def _config(folder: Path, name: str, db_schema: str, day: str) -> Path:
    return write(
        folder / f"{name}.yaml",
        f"name: {name}\nsources:\n  - path: ../data\ntarget:\n  db_schema: {db_schema}\n  table: visits\n"
        f"schema:\n  columns:\n    id: integer\n    day: {day}\n",
    )


def _latest(instance: DagsterInstance, key: list[str]) -> dict:
    event = instance.get_latest_materialization_event(AssetKey(key))
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_replay_job_recovers_the_rows_a_fixed_yaml_accepts(tmp_path: Path, database_url: str, db_schema: str) -> None:
    name = f"q_{db_schema}"
    write(tmp_path / "data" / "a.csv", "id,day\n1,2024-01-31\n2,31/01/2024\n3,someday\n")
    folder = tmp_path / "configs"
    _config(folder, name, db_schema, "date")
    defs = build_definitions(folder)
    with instance_for_test() as instance:
        assert defs.resolve_job_def(f"{name}_elt").execute_in_process(instance=instance).success
        quarantine = _latest(instance, [name, "visits__rejected"])
        assert (quarantine["dagster/row_count"], quarantine["added_by_this_run"]) == (2, 2)
        assert "is not a date" in quarantine["by_reason"] and "31/01/2024" in quarantine["by_reason"]
        assert f"{name}_replay_rejects" in quarantine["how_to_fix"]

        _config(folder, name, db_schema, "{type: date, format: '%d/%m/%Y', description: Day of the visit}")
        result = defs.resolve_job_def(f"{name}_replay_rejects").execute_in_process(instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.tags[RECOVERED_TAG] == "1" and run.tags["elt/config_version"] == "2"
        table = _latest(instance, [name, "visits"])
        assert (table["recovered"], table["inserted"], table["quarantined_total"], table["dagster/row_count"]) == (
            1,
            1,
            1,
            2,
        )
        quarantine = _latest(instance, [name, "visits__rejected"])
        assert (quarantine["dagster/row_count"], quarantine["still_rejected"]) == (1, 1)

        again = defs.resolve_job_def(f"{name}_replay_rejects").execute_in_process(instance=instance)
        assert instance.get_run_by_id(again.run_id).tags[RECOVERED_TAG] == "0"  # type: ignore[union-attr]
    assert fetch(database_url, f'SELECT id, day::text FROM "{db_schema}".visits ORDER BY id') == [
        (1, "2024-01-31"),
        (2, "2024-01-31"),
    ]


def test_column_descriptions_reach_the_column_schema(tmp_path: Path, db_schema: str, database_url: str) -> None:
    name = f"d_{db_schema}"
    write(tmp_path / "data" / "a.csv", "id,day\n1,2024-01-31\n")
    folder = tmp_path / "configs"
    _config(folder, name, db_schema, "{type: date, description: Day of the visit}")
    defs = build_definitions(folder)
    with instance_for_test() as instance:
        assert defs.resolve_job_def(f"{name}_elt").execute_in_process(instance=instance).success
        columns = {c.name: c.description for c in _latest(instance, [name, "visits"])["dagster/column_schema"].columns}
    assert columns["day"] == "Day of the visit" and columns["id"] is None
    spec = next(s for s in defs.resolve_all_asset_specs() if s.key == AssetKey([name, "visits"]))
    assert AssetKey([name, "config_history"]) in {dep.asset_key for dep in spec.deps}
