"""Deletes in Dagster: a snapshot's guard fails the run in one line, the run config `allow_deletes` (or its tag)
lets it through, the counts check adds up rows that deleted their key, and a file gone from a snapshot makes the
source sensor ask for a run."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, DagsterInstance, build_sensor_context, instance_for_test

from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import load_config
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write


def _snapshot(folder: Path, ids: list[int], deleted: tuple[int, ...] = ()) -> None:
    rows = [f"{i},o{i},{'yes' if i in deleted else 'no'}" for i in ids]
    write(folder / "data" / "accounts.csv", "\n".join(["id,owner,gone", *rows]) + "\n")


def test_the_guard_fails_the_run_and_allow_deletes_lets_it_through(
    tmp_path: Path, database_url: str, db_schema: str
) -> None:
    name = f"snap_{db_schema}"
    write(
        tmp_path / "configs" / f"{name}.yaml",
        f"name: {name}\nsources:\n  - path: ../data\n    snapshot: true\ntarget:\n  db_schema: {db_schema}\n"
        "  table: accounts\n  mode: scd2\n  primary_key: [id]\n  delete_column: gone\n"
        "schema:\n  columns:\n    id: integer\n    owner: string\n    gone: boolean\n",
    )
    _snapshot(tmp_path, list(range(1, 11)))
    defs = build_definitions(tmp_path / "configs")
    job = defs.resolve_job_def(f"{name}_elt")
    with instance_for_test() as instance:
        assert job.execute_in_process(instance=instance).success
        _snapshot(tmp_path, [1, 2, 3], deleted=(3,))  # 7 of 10 keys gone, one more flagged
        refused = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not refused.success
        failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.error.message  # type: ignore[union-attr]
        assert "the snapshot lacks 7 of the 10 keys" in message and "allow_deletes" in message
        assert "Traceback" not in message
        assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".accounts_current')[0][0] == 10

        step = f"{name}_elt_step"
        allowed = job.execute_in_process(
            instance=instance, run_config={"ops": {step: {"config": {"allow_deletes": True}}}}
        )
        assert allowed.success
        current = fetch(database_url, f'SELECT id FROM "{db_schema}".accounts_current ORDER BY id')
        assert current == [(1,), (2,)]
        table = instance.get_latest_materialization_event(AssetKey([name, "accounts"]))
        assert table is not None and table.asset_materialization is not None
        metadata = {k: v.value for k, v in table.asset_materialization.metadata.items()}
        assert (metadata["deleted"], metadata["deleting_rows"], metadata["dagster/row_count"]) == (8, 1, 10)
        checks = [
            e.event_specific_data
            for e in allowed.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "counts_add_up"  # type: ignore[union-attr]
        ]
        assert [c.passed for c in checks] == [True]  # type: ignore[union-attr]
        assert "+ 1 deleting their key" in (checks[0].description or "")  # type: ignore[union-attr]


def test_a_file_gone_from_a_snapshot_makes_the_sensor_request_a_run(
    tmp_path: Path, database_url: str, db_schema: str
) -> None:
    """Removing a file of a snapshot changes the table's state: the source sensor asks for a run, which deletes the
    file's keys; then it skips."""
    name = f"gone_{db_schema}"
    config_path = tmp_path / "configs" / f"{name}.yaml"
    write(
        config_path,
        f"name: {name}\nsources:\n  - path: ../data\n    snapshot: true\ntarget:\n  db_schema: {db_schema}\n"
        "  table: accounts\n  mode: merge\n  primary_key: [id]\nschema:\n  columns:\n    id: integer\n"
        "    owner: string\n",
    )
    write(tmp_path / "data" / "a.csv", "id,owner\n1,a\n2,b\n")
    write(tmp_path / "data" / "b.csv", "id,owner\n3,c\n")
    defs = build_definitions(tmp_path / "configs")
    sensor = defs.resolve_sensor_def(f"{name}_source_sensor")

    def tick(instance: DagsterInstance):
        return sensor.evaluate_tick(build_sensor_context(instance=instance, resources=defs.resources))

    with instance_for_test() as instance:
        assert len(tick(instance).run_requests) == 1
        assert run_pipeline(load_config(config_path)).inserted == 3
        assert not tick(instance).run_requests
        (tmp_path / "data" / "b.csv").unlink()
        [request] = tick(instance).run_requests
        assert request.tags["elt/changed_files"] == "1"
        assert run_pipeline(load_config(config_path)).deleted == 1
        assert not tick(instance).run_requests
    live = fetch(database_url, f'SELECT id FROM "{db_schema}".accounts WHERE _elt_deleted_at IS NULL ORDER BY id')
    assert live == [(1,), (2,)]
