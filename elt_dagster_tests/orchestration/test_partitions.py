"""A partitioned pipeline in Dagster: daily partitions and a backfill policy on its assets, one partition per run
through Dagster's testing API and through `dagster job execute --tags dagster/partition` (two at once, in two
processes), the source sensor asking for the partitions whose files changed or went, the partitioned schedule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context, instance_for_test

from elt_dagster.definitions import build_definitions
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.pipelines import daily_yaml
from elt_dagster_tests.webserver import cli_env

DAGSTER = str(Path(sys.executable).with_name("dagster"))
# not named events: the daemon test's pipeline, whose config history in the shared database counts from 1
DAILY = daily_yaml('end: "2024-01-05"\nmax_partitions_per_run: 3\nconcurrent_runs: 2', name="days")


def write_day(tmp_path: Path, key: str, rows: list[tuple[int, str]]) -> None:
    write(tmp_path / "data" / key / "events.csv", "id,name\n" + "".join(f"{i},{n}\n" for i, n in rows))


@pytest.fixture
def config_dir(tmp_path: Path, db_schema: str) -> Path:
    write_day(tmp_path, "2024-01-01", [(1, "a"), (2, "b")])
    write_day(tmp_path, "2024-01-02", [(3, "c"), (4, "d"), (5, "e")])
    write_day(tmp_path, "2024-01-03", [(6, "f")])
    write(tmp_path / "data" / "notes.csv", "id,name\n9,x\n")  # no date in its path: no partition, reported
    write(tmp_path / "configs" / "events.yaml", DAILY.replace("{schema}", db_schema))
    return tmp_path / "configs"


def events(database_url: str, db_schema: str) -> list[tuple]:
    return fetch(database_url, f'SELECT _elt_partition, id FROM "{db_schema}".events ORDER BY id')


def test_the_assets_are_daily_partitioned_with_a_multi_run_backfill_policy(config_dir: Path, db_schema: str) -> None:
    defs = build_definitions(config_dir)
    job = defs.resolve_job_def("days_elt")
    assert job.partitions_def is not None
    assert job.partitions_def.get_partition_keys() == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    step = next(a for a in defs.resolve_asset_graph().assets_defs if AssetKey(["days", "events"]) in a.keys)
    assert step.backfill_policy is not None and step.backfill_policy.max_partitions_per_run == 3
    assert {node.pool for node in step.node_def.iterate_op_defs()} == {f"elt/default/{db_schema}.events"}
    assert "elt/target" not in job.tags  # the table's pool limits its loads, whatever launches them
    schedule = defs.resolve_schedule_def("days_schedule")
    assert schedule.cron_schedule == "0 0 * * *"


def test_one_partition_materialised_holds_exactly_its_day(
    config_dir: Path, tmp_path: Path, database_url: str, db_schema: str
) -> None:
    job = build_definitions(config_dir).resolve_job_def("days_elt")
    with instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, partition_key="2024-01-02").success
        assert events(database_url, db_schema) == [("2024-01-02", 3), ("2024-01-02", 4), ("2024-01-02", 5)]
        event = instance.get_latest_materialization_event(AssetKey(["days", "events"]))
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.partition == "2024-01-02"
        metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        assert (metadata["inserted"], metadata["load_strategy"], metadata["partition_rows"]) == (
            3,
            "partition-append",
            3,
        )
        extracted = instance.get_latest_materialization_event(AssetKey(["days", "extracted"]))
        assert extracted is not None and extracted.asset_materialization is not None
        unplaced = extracted.asset_materialization.metadata["unplaced_files"].value
        assert unplaced == [f"{tmp_path / 'data' / 'notes.csv'} (no %Y-%m-%d date in its path)"]


def test_one_day_alone_then_two_at_once_by_two_dagster_processes(
    config_dir: Path, tmp_path: Path, database_url: str, db_schema: str
) -> None:
    env = cli_env(config_dir, tmp_path, database_url)
    command = [DAGSTER, "job", "execute", "-m", "elt_dagster", "-j", "days_elt", "--tags"]
    # one day alone first: it also creates the fresh DAGSTER_HOME's SQLite storage, which two processes starting
    # together would both try to create
    alone = subprocess.run([*command, '{"dagster/partition": "2024-01-02"}'], cwd=tmp_path, env=env, timeout=240)
    assert alone.returncode == 0
    assert events(database_url, db_schema) == [("2024-01-02", 3), ("2024-01-02", 4), ("2024-01-02", 5)]
    runs = [
        subprocess.Popen(
            [*command, f'{{"dagster/partition": "{key}"}}'],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for key in ("2024-01-01", "2024-01-03")
    ]
    outputs = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    days = [key for key, _ in events(database_url, db_schema)]
    assert days == ["2024-01-01"] * 2 + ["2024-01-02"] * 3 + ["2024-01-03"]


def test_the_sensor_asks_for_the_partitions_whose_files_changed_or_went(
    config_dir: Path, tmp_path: Path, database_url: str, db_schema: str
) -> None:
    defs = build_definitions(config_dir)
    sensor = defs.resolve_sensor_def("days_source_sensor")
    with instance_for_test() as instance:
        first = _tick(sensor, defs, instance)
        assert sorted(r.partition_key for r in first) == ["2024-01-01", "2024-01-02", "2024-01-03"]
        pool = instance.event_log_storage.get_concurrency_info(f"elt/default/{db_schema}.events")
        assert pool.slot_count == 2  # the table's loads at once: partitions.concurrent_runs
        job = defs.resolve_job_def("days_elt")
        for key in ("2024-01-01", "2024-01-02", "2024-01-03"):
            assert job.execute_in_process(instance=instance, partition_key=key).success
        assert _tick(sensor, defs, instance) == []
        write_day(tmp_path, "2024-01-04", [(7, "g")])  # a complete window (the partitions end on the 5th)
        write_day(tmp_path, "2024-01-09", [(8, "h")])  # past partitions.end: no partition, never asked for
        (tmp_path / "data" / "2024-01-01" / "events.csv").unlink()
        assert sorted(r.partition_key for r in _tick(sensor, defs, instance)) == ["2024-01-01", "2024-01-04"]
        assert job.execute_in_process(instance=instance, partition_key="2024-01-01").success  # emptied
        emptied = instance.get_latest_materialization_event(AssetKey(["days", "events"]))
        assert emptied is not None and emptied.asset_materialization is not None
        metadata = emptied.asset_materialization.metadata
        assert (emptied.asset_materialization.partition, metadata["deleted"].value) == ("2024-01-01", 2)
        assert job.execute_in_process(instance=instance, partition_key="2024-01-04").success
        assert _tick(sensor, defs, instance) == []
    assert [key for key, _ in events(database_url, db_schema)] == ["2024-01-02"] * 3 + ["2024-01-03", "2024-01-04"]


def _tick(sensor, defs, instance: DagsterInstance) -> list:  # type: ignore[no-untyped-def]
    with build_sensor_context(instance=instance, resources=defs.resources, definitions=defs) as context:
        data = sensor.evaluate_tick(context)
    return list(data.run_requests or [])


BY_FILES = """
name: drops
sources:
  - path: ../drops
target:
  table: drops
  db_schema: {schema}
schema:
  columns:
    id: integer
partitions:
  by: files
  files_per_partition: 2
"""


def test_batches_of_new_files_become_partitions_the_sensor_adds_and_loads(
    tmp_path: Path, database_url: str, db_schema: str
) -> None:
    folder = tmp_path / "drops"
    for number in range(1, 4):
        write(folder / f"d{number}.csv", f"id\n{number}\n")
    write(tmp_path / "files_configs" / "drops.yaml", BY_FILES.replace("{schema}", db_schema))
    defs = build_definitions(tmp_path / "files_configs")
    sensor, job = defs.resolve_sensor_def("drops_source_sensor"), defs.resolve_job_def("drops_elt")
    with instance_for_test() as instance:
        data = _files_tick(sensor, defs, instance)
        added = [key for request in data.dynamic_partitions_requests for key in request.partition_keys]
        assert added == ["000001", "000002"]  # three new files, two a partition
        assert sorted(r.partition_key for r in data.run_requests or []) == ["000001", "000002"]
        instance.add_dynamic_partitions("drops_files", added)  # what the daemon does with the tick's requests
        for key in added:
            assert job.execute_in_process(instance=instance, partition_key=key).success
        assert not _files_tick(sensor, defs, instance).run_requests
        write(folder / "d3.csv", "id\n3\n33\n")  # changed: its partition again
        write(folder / "d4.csv", "id\n4\n")  # new: a partition of its own
        data = _files_tick(sensor, defs, instance)
        assert [key for request in data.dynamic_partitions_requests for key in request.partition_keys] == ["000003"]
        assert sorted(r.partition_key for r in data.run_requests or []) == ["000002", "000003"]
        instance.add_dynamic_partitions("drops_files", ["000003"])
        for key in ("000002", "000003"):
            assert job.execute_in_process(instance=instance, partition_key=key).success
    rows = fetch(database_url, f'SELECT _elt_partition, id FROM "{db_schema}".drops ORDER BY id')
    assert rows == [("000001", 1), ("000001", 2), ("000002", 3), ("000003", 4), ("000002", 33)]


def _files_tick(sensor, defs, instance: DagsterInstance):  # type: ignore[no-untyped-def]
    """A tick with the instance's ref, as the daemon gives a sensor: run requests may name the partitions the same
    tick adds."""
    ref = instance.get_ref()
    with build_sensor_context(
        instance=instance, instance_ref=ref, resources=defs.resources, definitions=defs
    ) as context:
        return sensor.evaluate_tick(context)
