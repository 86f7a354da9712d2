"""The source sensor of a pipeline reading a bucket (`type: s3`, on the real `s3_server`): a new or rewritten object
requests a run, which loads only that object; objects already loaded give a skip; a bounded listing (a page a tick)
sees an object rewritten or added behind its cursor at its next sweep."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_sensor_context, instance_for_test

from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import load_config
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.objects import listing
from elt_dagster_tests.conftest import write
from elt_dagster_tests.s3_server import S3Server


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def put(server: S3Server, bucket: str, key: str, body: bytes) -> None:
    with server.filesystem().open_output_stream(f"{bucket}/{key}", compression=None) as stream:
        stream.write(body)


def write_config(tmp_path: Path, name: str, schema: str, server: S3Server, bucket: str) -> Path:
    return write(
        tmp_path / "configs" / f"{name}.yaml",
        f"""
        name: {name}
        sources:
          - type: s3
            url: s3://{bucket}/drop/
            pattern: "*.csv"
            endpoint_url: {server.endpoint_url}
            access_key_id: ${{S3_KEY}}
            secret_access_key: ${{S3_SECRET}}
        target:
          table: orders
          db_schema: {schema}
        """,
    )


def tick(config_path: Path, instance: DagsterInstance, cursor: str | None = None):
    """One tick of the pipeline's source sensor, as the daemon evaluates it (from `cursor`)."""
    defs = build_definitions(config_path.parent)
    sensor = defs.resolve_sensor_def(f"{load_config(config_path).name}_source_sensor")
    return sensor.evaluate_tick(build_sensor_context(instance=instance, resources=defs.resources, cursor=cursor))


def test_a_new_object_in_the_bucket_requests_a_run_that_loads_only_it(
    s3_server: S3Server,
    tmp_path: Path,
    db_schema: str,
    database_url: str,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3_KEY", s3_server.access_key)
    monkeypatch.setenv("S3_SECRET", s3_server.secret_key)
    bucket = f"s-{uuid.uuid4().hex[:12]}"
    s3_server.filesystem().create_dir(bucket)
    name = f"bucket_{uuid.uuid4().hex[:8]}"
    config_path = write_config(tmp_path, name, db_schema, s3_server, bucket)
    put(s3_server, bucket, "drop/a.csv", b"id,amount\n1,2.5\n")

    first = tick(config_path, instance)
    assert [request.tags["elt/changed_files"] for request in first.run_requests] == ["1"]
    assert run_pipeline(load_config(config_path)).inserted == 1
    skipped = tick(config_path, instance)
    assert not skipped.run_requests and "no new or changed files among the 1 watched" in skipped.skip_message

    put(s3_server, bucket, "drop/b.csv", b"id,amount\n2,3.5\n")
    second = tick(config_path, instance)
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key != first.run_requests[0].run_key
    report = run_pipeline(load_config(config_path))
    assert [f.path for f in report.files] == [f"s3://{bucket}/drop/b.csv"]
    assert not tick(config_path, instance).run_requests


def test_a_bucket_the_sensor_cannot_list_is_a_skip_without_the_secret(
    s3_server: S3Server, tmp_path: Path, db_schema: str, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sensor-wrong-secret-41f0"
    monkeypatch.setenv("S3_KEY", s3_server.access_key)
    monkeypatch.setenv("S3_SECRET", wrong)
    config_path = write_config(tmp_path, f"bucket_{uuid.uuid4().hex[:8]}", db_schema, s3_server, "any-bucket")
    skipped = tick(config_path, instance)
    assert not skipped.run_requests
    assert "s3://any-bucket/drop/: the credentials were refused" in skipped.skip_message
    assert wrong not in skipped.skip_message


def test_a_bounded_listing_sees_an_object_rewritten_or_added_behind_its_cursor_at_the_next_sweep(
    s3_server: S3Server,
    tmp_path: Path,
    db_schema: str,
    database_url: str,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3_KEY", s3_server.access_key)
    monkeypatch.setenv("S3_SECRET", s3_server.secret_key)
    monkeypatch.setattr(listing, "MAX_OBJECTS_PER_TICK", 10)
    bucket = f"s-{uuid.uuid4().hex[:12]}"
    s3_server.filesystem().create_dir(bucket)
    config_path = write_config(tmp_path, f"bucket_{uuid.uuid4().hex[:8]}", db_schema, s3_server, bucket)
    for index in range(30):
        put(s3_server, bucket, f"drop/{index:02d}.csv", f"id,amount\n{index},1\n".encode())
    assert run_pipeline(load_config(config_path)).inserted == 30

    cursor = None
    first = tick(config_path, instance, cursor)
    assert "among the 10 watched" in first.skip_message  # keys 00..09 only
    put(s3_server, bucket, "drop/03.csv", b"id,amount\n3,2\n33,2\n")  # behind the cursor: rewritten
    put(s3_server, bucket, "drop/00a.csv", b"id,amount\n100,1\n")  # behind the cursor: new
    cursor = first.cursor
    requested = []
    for _ in range(4):  # 10..19, 20..29 (the end), then 00..08 again: where both are
        result = tick(config_path, instance, cursor)
        requested += result.run_requests
        cursor = result.cursor
    assert [request.tags["elt/changed_files"] for request in requested] == ["2"]
    report = run_pipeline(load_config(config_path))
    assert sorted(f.path for f in report.files) == [f"s3://{bucket}/drop/00a.csv", f"s3://{bucket}/drop/03.csv"]
