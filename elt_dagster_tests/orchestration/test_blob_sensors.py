"""The source sensor of a pipeline reading Azure Blob Storage (`type: azure`, on Azurite) or Google Cloud Storage
(`type: gcs`, on its emulator): as for s3, a new object requests a run that loads only it, and objects already
loaded give a skip."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from elt_dagster.engine.config import load_config
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.azure_server import AzureServer
from elt_dagster_tests.conftest import write
from elt_dagster_tests.gcs_server import GcsServer
from elt_dagster_tests.orchestration.test_s3_sensor import tick


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def put(store, bucket: str, key: str, body: bytes) -> None:  # store: a pyarrow filesystem
    with store.open_output_stream(f"{bucket}/{key}", compression=None) as stream:
        stream.write(body)


def assert_a_new_object_requests_a_run_that_loads_only_it(
    config_path: Path, instance: DagsterInstance, store, bucket: str, url: str
) -> None:
    """The sensor's story of test_s3_sensor.py on another store: `url` is the prefix's `drop/` folder."""
    put(store, bucket, "drop/a.csv", b"id,amount\n1,2.5\n")
    first = tick(config_path, instance)
    assert [request.tags["elt/changed_files"] for request in first.run_requests] == ["1"]
    assert run_pipeline(load_config(config_path)).inserted == 1
    skipped = tick(config_path, instance)
    assert not skipped.run_requests and "no new or changed files among the 1 watched" in skipped.skip_message

    put(store, bucket, "drop/b.csv", b"id,amount\n2,3.5\n")
    second = tick(config_path, instance)
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key != first.run_requests[0].run_key
    report = run_pipeline(load_config(config_path))
    assert [f.path for f in report.files] == [f"{url}b.csv"]
    assert not tick(config_path, instance).run_requests


def test_a_new_blob_in_an_azure_container_requests_a_run_that_loads_only_it(
    azure_server: AzureServer,
    tmp_path: Path,
    db_schema: str,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZ_KEY", azure_server.account_key)
    container = f"s-{uuid.uuid4().hex[:12]}"
    store = azure_server.filesystem()
    store.create_dir(container)
    name = f"blobs_{uuid.uuid4().hex[:8]}"
    config_path = write(
        tmp_path / "configs" / f"{name}.yaml",
        f"""
        name: {name}
        sources:
          - type: azure
            url: az://{container}/drop/
            pattern: "*.csv"
            account_name: {azure_server.account_name}
            account_key: ${{AZ_KEY}}
            endpoint_url: {azure_server.endpoint_url}
        target:
          table: orders
          db_schema: {db_schema}
        """,
    )
    assert_a_new_object_requests_a_run_that_loads_only_it(
        config_path, instance, store, container, f"az://{container}/drop/"
    )


def test_a_new_object_in_a_gcs_bucket_requests_a_run_that_loads_only_it(
    gcs_server: GcsServer, tmp_path: Path, db_schema: str, instance: DagsterInstance
) -> None:
    bucket = f"s-{uuid.uuid4().hex[:12]}"
    store = gcs_server.filesystem()
    store.create_dir(bucket)
    name = f"gcs_{uuid.uuid4().hex[:8]}"
    config_path = write(
        tmp_path / "configs" / f"{name}.yaml",
        f"""
        name: {name}
        sources:
          - type: gcs
            url: gs://{bucket}/drop/
            pattern: "*.csv"
            anonymous: true
            endpoint_url: {gcs_server.endpoint_url}
        target:
          table: orders
          db_schema: {db_schema}
        """,
    )
    assert_a_new_object_requests_a_run_that_loads_only_it(config_path, instance, store, bucket, f"gs://{bucket}/drop/")
