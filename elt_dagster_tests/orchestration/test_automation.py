"""Sensors, schedules and config history, through Dagster's own testing API against a real PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    Definitions,
    RunRequest,
    ScheduleDefinition,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    define_asset_job,
    instance_for_test,
    materialize,
)
from dagster._core.definitions.sensor_definition import SensorExecutionData

from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import ConfigError, LoadedConfig, load_config
from elt_dagster.engine.db import connect
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.state import fingerprints as state_module
from elt_dagster.engine.state.fingerprints import Fingerprint
from elt_dagster.engine.state.history import record_version
from elt_dagster.orchestration.automation import (
    MAX_CHANGES_PER_TICK,
    build_config_sensor,
    build_schedule,
    changed_files_line,
)
from elt_dagster.orchestration.resources import BookkeepingResource, SourceChanges
from elt_dagster_tests.conftest import fetch, write

BOOKKEEPING_TABLES = ("config_history", "file_fingerprints", "api_cursors")


# --- helpers ----------------------------------------------------------------------------------------------------


@pytest.fixture
def name(db_schema: str, database_url: str) -> Iterator[str]:
    """A pipeline name of this test alone: config history and fingerprints live in the shared schema `elt`."""
    pipeline = f"p_{db_schema}"
    yield pipeline
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in BOOKKEEPING_TABLES:
            if conn.execute("SELECT to_regclass(%s)", (f"elt.{table}",)).fetchone()[0]:
                conn.execute(f"DELETE FROM elt.{table} WHERE pipeline LIKE %s", (f"{pipeline}%",))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def config_text(name: str, schema: str, extra: str = "") -> str:
    """A local-files pipeline reading tmp_path/data into <schema>.orders; `extra` adds top-level keys."""
    return (
        f"name: {name}\n"
        "sources:\n"
        "  - type: local\n"
        "    path: ../data\n"
        "    pattern: '*.csv'\n"
        "target:\n"
        "  table: orders\n"
        f"  db_schema: {schema}\n" + extra
    )


def write_config(tmp_path: Path, name: str, schema: str, extra: str = "") -> Path:
    (tmp_path / "data").mkdir(parents=True, exist_ok=True)
    return write(tmp_path / "configs" / f"{name}.yaml", config_text(name, schema, extra))


def write_csv(path: Path, ids: range) -> Path:
    return write(path, "id,amount\n" + "".join(f"{i},{i}.5\n" for i in ids))


def bump_mtime(path: Path, seconds: int = 5) -> None:
    later = path.stat().st_mtime_ns + seconds * 1_000_000_000
    os.utime(path, ns=(later, later))


# Sensors are evaluated as the daemon does (evaluate_tick, then the tick's asset events stored in the instance):
# calling a sensor directly would pass its decorator-declared required_resource_keys as keyword arguments, which
# these sensors do not take.


def stored(tick: SensorExecutionData, instance: DagsterInstance) -> SensorExecutionData:
    """The tick, once its asset events are in the instance as the sensor daemon stores them."""
    for event in tick.asset_events or []:
        instance.report_runless_asset_event(event)
    return tick


def source_tick(config_path: Path, instance: DagsterInstance, cursor: str | None = None) -> SensorExecutionData:
    """One tick of the pipeline's source sensor, with the resources build_definitions gives it."""
    defs = build_definitions(config_path.parent)
    pipeline = load_config(config_path).name
    sensor = defs.resolve_sensor_def(f"{pipeline}_source_sensor")
    context = build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources)
    return stored(sensor.evaluate_tick(context), instance)


def config_tick(folder: Path, instance: DagsterInstance, database_url: str) -> SensorExecutionData:
    resources = {"bookkeeping": BookkeepingResource(database_url=database_url)}
    tick = build_config_sensor(folder).evaluate_tick(build_sensor_context(instance=instance, resources=resources))
    return stored(tick, instance)


def run_requests(tick: SensorExecutionData) -> list[RunRequest]:
    assert tick.run_requests, f"expected run requests, got the skip {tick.skip_message!r}"
    return list(tick.run_requests)


def skip_message(tick: SensorExecutionData) -> str:
    """The tick's skip reason; fails when it requested runs or recorded events other than a first-seen config version."""
    assert not tick.run_requests, tick
    assert all(event.asset_key.path[-1] == "config_history" for event in tick.asset_events or []), tick
    assert tick.skip_message
    return tick.skip_message


def history_rows(database_url: str, pipeline: str) -> list[tuple[int, str, str]]:
    return [
        (row[0], row[1], row[2])
        for row in fetch(
            database_url,
            "SELECT version, content_hash, yaml FROM elt.config_history WHERE pipeline = %s ORDER BY version",
            pipeline,
        )
    ]


def schedule_for(tmp_path: Path, extra: str, name: str = "sched") -> tuple[LoadedConfig, ScheduleDefinition | None]:
    """A pipeline with the given schedule/window keys and its schedule (no database needed)."""
    loaded = load_config(write_config(tmp_path, name, "public", extra))
    return loaded, build_schedule(loaded, define_asset_job(f"{name}_elt"))


def schedule_tick(
    schedule_def: ScheduleDefinition, tick: datetime, instance: DagsterInstance
) -> RunRequest | SkipReason:
    result = schedule_def(build_schedule_context(scheduled_execution_time=tick, instance=instance))
    assert isinstance(result, RunRequest | SkipReason), result
    return result


def dagster_tick(moment_utc: datetime, zone: str) -> datetime:
    """A tick time as Dagster's scheduler hands it over: from a timestamp, in the schedule's execution timezone."""
    return datetime.fromtimestamp(moment_utc.timestamp(), ZoneInfo(zone))


# --- source sensor ------------------------------------------------------------------------------------------------


def test_new_file_gives_one_tagged_run_request_and_loaded_files_give_a_skip(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    config_path = write_config(tmp_path, name, db_schema)
    write_csv(tmp_path / "data" / "a.csv", range(3))
    write_csv(tmp_path / "data" / "b.csv", range(3, 5))

    requests = run_requests(source_tick(config_path, instance))
    assert len(requests) == 1
    request = requests[0]
    assert request.run_key and len(request.run_key) == 32
    expected_hash = hashlib.sha256(config_path.read_text(encoding="utf-8").encode()).hexdigest()
    assert request.tags["elt/config_version"] == "1"
    assert request.tags["elt/config_hash"] == expected_hash
    assert request.tags["elt/changed_files"] == "2"
    assert history_rows(database_url, name)[0][:2] == (1, expected_hash)

    # the same unchanged state evaluated again gives the same key: Dagster launches it only once
    again = run_requests(source_tick(config_path, instance))
    assert [r.run_key for r in again] == [request.run_key]

    report = run_pipeline(load_config(config_path))
    assert report.inserted == 5
    assert "no new or changed files among the 2 watched" in skip_message(source_tick(config_path, instance))


def test_changed_file_gives_a_new_run_key(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    config_path = write_config(tmp_path, name, db_schema)
    data = write_csv(tmp_path / "data" / "a.csv", range(3))
    write_csv(tmp_path / "data" / "b.csv", range(3, 5))
    first = run_requests(source_tick(config_path, instance))[0].run_key
    run_pipeline(load_config(config_path))
    assert "2 watched" in skip_message(source_tick(config_path, instance))

    write_csv(data, range(10))
    bump_mtime(data)
    changed = run_requests(source_tick(config_path, instance))
    assert len(changed) == 1
    assert changed[0].run_key not in (None, first)
    assert changed[0].tags["elt/changed_files"] == "1"
    assert changed[0].run_key == SourceChanges([Fingerprint.stat(data)], 2).run_key()


def test_ten_thousand_new_files_give_at_most_the_tick_limit(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    config_path = write_config(tmp_path, name, db_schema)
    folder = tmp_path / "data"
    # 10,000 paths to one tiny file: the sensor only stats paths, and hard links are made in a blink where
    # creating 10,000 inodes takes seconds on a busy disk
    first = folder / "f00000.csv"
    first.write_bytes(b"id\n1\n")
    for index in range(1, 10_000):
        os.link(first, folder / f"f{index:05d}.csv")

    loaded = load_config(config_path)
    changes = BookkeepingResource(database_url=database_url).source_changes(loaded, MAX_CHANGES_PER_TICK)
    assert (len(changes.changed), changes.watched) == (MAX_CHANGES_PER_TICK, 10_000)

    requests = run_requests(source_tick(config_path, instance))
    assert len(requests) == 1
    assert requests[0].tags["elt/changed_files"] == str(MAX_CHANGES_PER_TICK)
    first_files = sorted(folder.iterdir())[:MAX_CHANGES_PER_TICK]
    expected = SourceChanges([Fingerprint.stat(p) for p in first_files], 10_000)
    assert requests[0].run_key == expected.run_key()


def test_sensor_does_not_watch_outside_the_window(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    write_csv(tmp_path / "data" / "a.csv", range(3))
    config_path = write_config(tmp_path, name, db_schema, "start_time: '2999-01-01 00:00'\n")
    assert "before start_time 2999-01-01T00:00:00+00:00" in skip_message(source_tick(config_path, instance))

    write_config(tmp_path, name, db_schema, "end_time: '2000-01-01 00:00'\n")
    assert "after end_time 2000-01-01T00:00:00+00:00" in skip_message(source_tick(config_path, instance))


def test_window_start_launches_once(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    write_csv(tmp_path / "data" / "a.csv", range(3))
    config_path = write_config(tmp_path, name, db_schema, "start_time: '2020-01-01 00:00'\n")
    run_pipeline(load_config(config_path))  # nothing new: only the window's first run is due

    tick = source_tick(config_path, instance)
    requests = run_requests(tick)
    assert [r.run_key for r in requests] == ["window-start:2020-01-01T00:00:00+00:00"]
    assert requests[0].tags["elt/config_version"] == "1"
    assert tick.cursor == "window-start:2020-01-01T00:00:00+00:00"

    assert "1 watched" in skip_message(source_tick(config_path, instance, cursor=tick.cursor))


def test_invalid_yaml_at_tick_time_is_a_skip(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    config_path = write_config(tmp_path, name, db_schema)
    write_csv(tmp_path / "data" / "a.csv", range(3))
    defs = build_definitions(config_path.parent)
    sensor = defs.resolve_sensor_def(f"{name}_source_sensor")
    config_path.write_text("sources: [unclosed\n", encoding="utf-8")  # broken after the definitions loaded

    message = skip_message(sensor.evaluate_tick(build_sensor_context(instance=instance, resources=defs.resources)))
    assert "the config is invalid" in message and "YAML syntax error" in message


def _fail_on_read(path: Path) -> str:
    raise AssertionError(f"the sensor read {path}")


def test_sensor_never_reads_unchanged_files(
    tmp_path: Path,
    name: str,
    db_schema: str,
    instance: DagsterInstance,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Files loaded well after they were written: the sensor sees them by stat alone."""
    config_path = write_config(tmp_path, name, db_schema)
    data = write_csv(tmp_path / "data" / "a.csv", range(3))
    an_hour_ago = data.stat().st_mtime_ns - 3600 * 1_000_000_000
    os.utime(data, ns=(an_hour_ago, an_hour_ago))
    run_pipeline(load_config(config_path))
    # tests may run as root, where chmod 000 does not stop reads: make every content read fail instead
    monkeypatch.setattr(state_module, "content_hash", _fail_on_read)

    assert "1 watched" in skip_message(source_tick(config_path, instance))
    new = write_csv(tmp_path / "data" / "b.csv", range(3, 5))
    assert run_requests(source_tick(config_path, instance))[0].run_key == (
        SourceChanges([Fingerprint.stat(new)], 2).run_key()
    )


def test_sensor_never_reads_a_file_loaded_right_after_it_was_written(
    tmp_path: Path,
    name: str,
    db_schema: str,
    instance: DagsterInstance,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_path = write_config(tmp_path, name, db_schema)
    write_csv(tmp_path / "data" / "a.csv", range(3))
    run_pipeline(load_config(config_path))  # recorded_at is within RACY_SECONDS of the file's mtime
    monkeypatch.setattr(state_module, "content_hash", _fail_on_read)

    assert "1 watched" in skip_message(source_tick(config_path, instance))


# --- schedule -----------------------------------------------------------------------------------------------------


def test_no_schedule_without_schedule_or_window(tmp_path: Path) -> None:
    _, schedule_def = schedule_for(tmp_path, "")
    assert schedule_def is None
    defs = build_definitions(tmp_path / "configs")
    assert list(defs.schedules or []) == []


def test_cron_alias_timezone_and_window_only_default(tmp_path: Path) -> None:
    loaded, daily = schedule_for(tmp_path, "schedule: '@daily'\ntimezone: Europe/Berlin\n")
    assert loaded.config.automation.schedule == "0 0 * * *"
    assert daily is not None
    assert daily.name == "sched_schedule"
    assert daily.cron_schedule == "0 0 * * *"
    assert daily.execution_timezone == "Europe/Berlin"

    _, window_only = schedule_for(tmp_path, "start_time: '2024-01-01 00:00'\ntimezone: America/New_York\n")
    assert window_only is not None
    assert window_only.cron_schedule == "0 * * * *"
    assert window_only.execution_timezone == "America/New_York"


def test_end_before_start_is_a_config_error_naming_end_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        schedule_for(tmp_path, "start_time: '2024-06-02 00:00'\nend_time: '2024-06-01 00:00'\n")
    assert "end_time" in str(caught.value)
    assert any(problem.startswith("end_time") for problem in caught.value.problems)


def test_schedule_runs_inside_the_window_and_skips_outside(tmp_path: Path, instance: DagsterInstance) -> None:
    extra = "schedule: '0 * * * *'\nstart_time: '2024-06-01 08:00'\nend_time: '2024-06-01 18:00'\n"
    _, schedule_def = schedule_for(tmp_path, extra)
    assert schedule_def is not None

    tick = datetime(2024, 6, 1, 12, tzinfo=UTC)
    inside = schedule_tick(schedule_def, tick, instance)
    assert isinstance(inside, RunRequest)
    assert inside.run_key == f"sched:{tick.isoformat()}"
    assert inside.tags["elt/scheduled_for"] == tick.isoformat()

    before = schedule_tick(schedule_def, datetime(2024, 6, 1, 7, tzinfo=UTC), instance)
    assert isinstance(before, SkipReason) and "start_time" in (before.skip_message or "")
    at_end = schedule_tick(schedule_def, datetime(2024, 6, 1, 18, tzinfo=UTC), instance)
    assert isinstance(at_end, SkipReason) and "end_time" in (at_end.skip_message or "")


def test_window_in_berlin_is_judged_right_for_ticks_in_utc(tmp_path: Path, instance: DagsterInstance) -> None:
    extra = "timezone: Europe/Berlin\nstart_time: '2024-06-01 08:00'\nend_time: '2024-06-01 18:00'\n"
    _, schedule_def = schedule_for(tmp_path, extra)
    assert schedule_def is not None
    # 06:30 UTC is 08:30 in Berlin (inside), 16:30 UTC is 18:30 (after): read as UTC it would be the other way
    assert isinstance(schedule_tick(schedule_def, datetime(2024, 6, 1, 6, 30, tzinfo=UTC), instance), RunRequest)
    late = schedule_tick(schedule_def, datetime(2024, 6, 1, 16, 30, tzinfo=UTC), instance)
    assert isinstance(late, SkipReason) and "end_time" in (late.skip_message or "")
    early = schedule_tick(schedule_def, datetime(2024, 6, 1, 5, 59, tzinfo=UTC), instance)
    assert isinstance(early, SkipReason) and "start_time" in (early.skip_message or "")


def test_dst_change_day_is_judged_by_the_ticks_time(tmp_path: Path, instance: DagsterInstance) -> None:
    """2024-03-31 in Berlin: 01:00 CET is followed by 03:00 CEST. The window starts at 02:30 local."""
    extra = "schedule: '0 * * * *'\ntimezone: Europe/Berlin\nstart_time: '2024-03-31 02:30'\n"
    _, schedule_def = schedule_for(tmp_path, extra)
    assert schedule_def is not None
    one_am = datetime(2024, 3, 31, 0, tzinfo=UTC)  # 01:00 CET
    four_am = datetime(2024, 3, 31, 2, tzinfo=UTC)  # 04:00 CEST
    for tick in (one_am, dagster_tick(one_am, "Europe/Berlin")):
        skipped = schedule_tick(schedule_def, tick, instance)
        assert isinstance(skipped, SkipReason) and "start_time" in (skipped.skip_message or "")
    for tick in (four_am, dagster_tick(four_am, "Europe/Berlin")):
        ran = schedule_tick(schedule_def, tick, instance)
        assert isinstance(ran, RunRequest) and ran.run_key == f"sched:{tick.isoformat()}"


@pytest.mark.parametrize(
    ("window", "tick_utc"),
    [
        # spring forward: 02:30 does not exist; the 03:00 CEST tick (01:00 UTC)
        ("start_time: '2024-03-31 02:30'\n", datetime(2024, 3, 31, 1, tzinfo=UTC)),
        # fall back: end at 02:45 (first, CEST, 00:45 UTC); the tick at 02:30 CET (01:30 UTC) comes after it
        ("end_time: '2024-10-27 02:45'\n", datetime(2024, 10, 27, 1, 30, tzinfo=UTC)),
    ],
    ids=["spring-forward-gap", "fall-back-fold"],
)
def test_dst_tick_is_judged_the_same_in_any_representation(
    tmp_path: Path, instance: DagsterInstance, window: str, tick_utc: datetime
) -> None:
    _, schedule_def = schedule_for(tmp_path, "schedule: '*/30 * * * *'\ntimezone: Europe/Berlin\n" + window)
    assert schedule_def is not None
    as_utc = schedule_tick(schedule_def, tick_utc, instance)
    as_dagster_gives_it = schedule_tick(schedule_def, dagster_tick(tick_utc, "Europe/Berlin"), instance)
    assert type(as_utc) is type(as_dagster_gives_it), (as_utc, as_dagster_gives_it)


def test_catch_up_ticks_are_judged_by_their_scheduled_time(tmp_path: Path, instance: DagsterInstance) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%S%z"
    ended = f"start_time: '{(now - timedelta(days=2)).strftime(fmt)}'\nend_time: '{(now - timedelta(days=1)).strftime(fmt)}'\n"
    _, past_window = schedule_for(tmp_path, ended)
    assert past_window is not None
    # evaluated now, after the end: a tick scheduled inside the window still runs, one scheduled after it does not
    assert isinstance(schedule_tick(past_window, now - timedelta(days=1, hours=12), instance), RunRequest)
    late = schedule_tick(past_window, now - timedelta(hours=12), instance)
    assert isinstance(late, SkipReason) and "end_time" in (late.skip_message or "")

    open_window = f"start_time: '{(now - timedelta(hours=1)).strftime(fmt)}'\nend_time: '{(now + timedelta(days=1)).strftime(fmt)}'\n"
    _, current = schedule_for(tmp_path, open_window, name="current")
    assert current is not None
    # now is inside the window, but this catch-up tick was due before it opened
    early = schedule_tick(current, now - timedelta(hours=2), instance)
    assert isinstance(early, SkipReason) and "start_time" in (early.skip_message or "")


# --- config history -----------------------------------------------------------------------------------------------


def test_record_version_increments_only_when_the_text_changes(
    tmp_path: Path, name: str, db_schema: str, database_url: str
) -> None:
    path = write_config(tmp_path, name, db_schema)
    first_text = path.read_text(encoding="utf-8")
    with connect(database_url) as conn:
        v1, new1 = record_version(conn, load_config(path))
        same, new_same = record_version(conn, load_config(path))
        write_config(tmp_path, name, db_schema, "monitor_interval_seconds: 30\n")
        v2, new2 = record_version(conn, load_config(path))
        path.write_text(first_text, encoding="utf-8")
        back, new_back = record_version(conn, load_config(path))
    assert (v1.version, new1) == (1, True)
    assert (same.version, same.id, new_same) == (1, v1.id, False)
    assert (v2.version, new2) == (2, True)
    assert (back.version, back.id, new_back) == (1, v1.id, False)
    rows = history_rows(database_url, name)
    assert [(version, content_hash) for version, content_hash, _ in rows] == [
        (1, hashlib.sha256(first_text.encode()).hexdigest()),
        (2, v2.content_hash),
    ]
    assert rows[0][2] == first_text


def test_secrets_never_reach_the_history_table(
    tmp_path: Path, name: str, db_schema: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_TEST_API_PASSWORD", "env-value-7c1f")
    monkeypatch.setenv("ELT_TEST_DB_URL", "postgresql://u:env-url-9e2d@h/d")
    sources = """\
  - type: api
    url: https://apiuser:url-pass-51a2@api.example.com/v1/items
    headers:
      Authorization: Bearer header-token-83b1
    params:
      api_key: param-key-04c9
    auth:
      type: bearer
      token: bearer-token-66d0
  - type: api
    url: https://api.example.com/v2
    auth: {type: api_key, name: X-Key, in: header, value: auth-value-2f7e}
  - type: api
    url: https://api.example.com/v3
    auth:
      type: basic
      username: alice
      password: ${ELT_TEST_API_PASSWORD}
"""
    literal = config_text(name, db_schema).replace("target:\n", sources + "target:\n") + (
        "  host: db.example.com\n  user: loader\n  password: 'db-pass-1d3c'\n"
    )
    by_url = config_text(f"{name}_url", db_schema) + "  url: postgresql://loader:url-db-pass-5b8a@db.example.com/w\n"
    by_env = config_text(f"{name}_env", db_schema) + "  url: ${ELT_TEST_DB_URL}\n"
    paths = [
        write(tmp_path / "configs" / f"{n}.yaml", text)
        for n, text in ((name, literal), (f"{name}_url", by_url), (f"{name}_env", by_env))
    ]
    (tmp_path / "data").mkdir(exist_ok=True)
    with connect(database_url) as conn:
        for path in paths:
            record_version(conn, load_config(path))

    stored = fetch(
        database_url, "SELECT t::text FROM elt.config_history t WHERE pipeline LIKE %s ORDER BY pipeline", f"{name}%"
    )
    assert len(stored) == 3
    everything = "\n".join(row[0] for row in stored)
    for secret in (
        "url-pass-51a2",
        "header-token-83b1",
        "param-key-04c9",
        "bearer-token-66d0",
        "auth-value-2f7e",
        "db-pass-1d3c",
        "url-db-pass-5b8a",
        "env-value-7c1f",
        "env-url-9e2d",
    ):
        assert secret not in everything
    assert "${ELT_TEST_API_PASSWORD}" in everything and "${ELT_TEST_DB_URL}" in everything
    assert "https://apiuser:***@api.example.com/v1/items" in everything
    assert "postgresql://loader:***@db.example.com/w" in everything
    assert "username: alice" in everything and "name: X-Key" in everything


def test_api_key_header_never_reaches_the_history_table(
    tmp_path: Path, name: str, db_schema: str, database_url: str
) -> None:
    api = "  - type: api\n    url: https://api.example.com/v1\n    headers:\n      X-API-Key: header-key-3a9f\n"
    path = write_config(tmp_path, name, db_schema)
    path.write_text(config_text(name, db_schema).replace("target:\n", api + "target:\n"), encoding="utf-8")
    with connect(database_url) as conn:
        record_version(conn, load_config(path))
    assert "header-key-3a9f" not in history_rows(database_url, name)[0][2]


def test_api_key_in_a_url_query_never_reaches_the_history_table(
    tmp_path: Path, name: str, db_schema: str, database_url: str
) -> None:
    api = "  - type: api\n    url: https://api.example.com/v1?api_key=query-key-7b2e&page=1\n"
    path = write_config(tmp_path, name, db_schema)
    path.write_text(config_text(name, db_schema).replace("target:\n", api + "target:\n"), encoding="utf-8")
    with connect(database_url) as conn:
        record_version(conn, load_config(path))
    assert "query-key-7b2e" not in history_rows(database_url, name)[0][2]


def materializations(tick: SensorExecutionData) -> list[AssetMaterialization]:
    assert tick.asset_events, f"expected asset events, got the skip {tick.skip_message!r}"
    events = list(tick.asset_events)
    assert all(isinstance(e, AssetMaterialization) for e in events)
    return events  # type: ignore[return-value]


def test_config_sensor_records_new_versions_and_skips_otherwise(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    path = write_config(tmp_path, name, db_schema)
    folder = path.parent

    events = materializations(config_tick(folder, instance, database_url))
    assert [(e.asset_key, e.metadata["version"].value) for e in events] == [(AssetKey([name, "config_history"]), 1)]
    assert events[0].metadata["content_hash"].value == load_config(path).content_hash

    assert skip_message(config_tick(folder, instance, database_url)) == "no new config versions"

    write_config(tmp_path, name, db_schema, "monitor_interval_seconds: 30\n")
    events = materializations(config_tick(folder, instance, database_url))
    assert [(e.asset_key, e.metadata["version"].value) for e in events] == [(AssetKey([name, "config_history"]), 2)]
    assert [row[0] for row in history_rows(database_url, name)] == [1, 2]


def test_config_sensor_never_stores_an_invalid_yaml(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    path = write_config(tmp_path, name, db_schema)
    folder = path.parent
    broken = write(folder / "broken.yaml", "sources: [unclosed\n")
    invalid = write(folder / "invalid.yaml", config_text(f"{name}_bad", db_schema) + "  tabel: typo\n")

    events = materializations(config_tick(folder, instance, database_url))
    assert [e.asset_key for e in events] == [AssetKey([name, "config_history"])]
    assert skip_message(config_tick(folder, instance, database_url)) == "no new config versions; 2 invalid file(s)"
    stored = fetch(
        database_url,
        "SELECT count(*) FROM elt.config_history WHERE source_path IN (%s, %s) OR pipeline = %s",
        str(broken),
        str(invalid),
        f"{name}_bad",
    )
    assert stored == [(0,)]


def test_a_version_first_seen_by_the_source_sensor_is_still_materialised(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    path = write_config(tmp_path, name, db_schema)
    write_csv(tmp_path / "data" / "a.csv", range(3))
    assert materializations(config_tick(path.parent, instance, database_url))[0].metadata["version"].value == 1

    write_config(tmp_path, name, db_schema, "monitor_interval_seconds: 30\n")
    tick = source_tick(path, instance)
    assert run_requests(tick)[0].tags["elt/config_version"] == "2"
    # the sensor that records a version first also reports it, so every version is a materialisation
    assert [e.metadata["version"].value for e in tick.asset_events] == [2]
    assert "no new config versions" in skip_message(config_tick(path.parent, instance, database_url))


# --- a Dagster run --------------------------------------------------------------------------------------------------


def test_run_is_tagged_with_the_config_version(
    tmp_path: Path, name: str, db_schema: str, instance: DagsterInstance, database_url: str
) -> None:
    path = write_config(tmp_path, name, db_schema)
    write_csv(tmp_path / "data" / "a.csv", range(4))
    defs: Definitions = build_definitions(path.parent)
    # the pipeline's own assets: the definitions hold other groups too (project_health, config_errors)
    asset_defs = [d for d in defs.assets or [] if set(getattr(d, "group_names_by_key", {}).values()) == {name}]
    assert {key for d in asset_defs for key in d.keys} == {
        AssetKey([name, "extracted"]),
        AssetKey([name, "validated"]),
        AssetKey([name, "orders"]),
        AssetKey([name, "orders__rejected"]),
    }

    result = materialize(asset_defs, instance=instance, resources=defs.resources)
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.tags["elt/config_version"] == "1"
    assert run.tags["elt/config_hash"] == hashlib.sha256(path.read_bytes()).hexdigest()

    table = latest_metadata(instance, AssetKey([name, "orders"]))
    assert (table["config_version"], table["inserted"]) == (1, 4)
    assert latest_metadata(instance, AssetKey([name, "config_history"]))["version"] == 1
    assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(4,)]


def latest_metadata(instance: DagsterInstance, key: AssetKey) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_the_sensor_log_line_masks_values_from_the_environment() -> None:
    paths = [f"/data/export_{i}_s3cr3t-token.csv" for i in range(7)]
    line = changed_files_line(paths, frozenset({"s3cr3t-token"}))
    assert line.startswith("7 new or changed files (export_0_***.csv, ") and line.endswith(", ...)")
    assert "s3cr3t" not in line
