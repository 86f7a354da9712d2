"""Google Cloud Storage sources (`type: gcs`) against an emulator of GCS's JSON API (`gcp-storage-emulator`, the
`gcs_server` fixture, read anonymously: it checks no credentials): CSV and gzipped JSON Lines objects into one
table, only new or changed objects read, the sensor's capped listing, and failures as one line naming the `gs://`
URL."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.objects import listing
from elt_dagster.engine.sources.objects.gcs import GcsSource
from elt_dagster.engine.sources.objects.listing import listing_key, sensor_objects
from elt_dagster.engine.sources.objects.store import list_objects
from elt_dagster_tests.engine.sources.objects.test_s3 import csv_body, jsonl_gz_body, table_rows
from elt_dagster_tests.gcs_server import GcsServer


@pytest.fixture
def bucket(gcs_server: GcsServer) -> str:
    """A new empty bucket for one test."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    gcs_server.filesystem().create_dir(name)
    return name


def put(server: GcsServer, bucket: str, key: str, body: bytes) -> None:
    """Write an object as given (no compression added by pyarrow)."""
    with server.filesystem().open_output_stream(f"{bucket}/{key}", compression=None) as stream:
        stream.write(body)


def gcs_pipeline(make_pipeline, server: GcsServer, url: str) -> LoadedConfig:
    return make_pipeline(
        f"""
        name: gcs_orders
        sources:
          - type: gcs
            url: {url}
            pattern: "**/*"
            anonymous: true
            endpoint_url: {server.endpoint_url}
        target:
          table: orders
          db_schema: {{schema}}
          mode: merge
          primary_key: [id]
        schema:
          columns:
            id: integer
            name: string
        """
    )


def source(server: GcsServer, url: str) -> GcsSource:
    return GcsSource(type="gcs", url=url, pattern="**/*", anonymous=True, endpoint_url=server.endpoint_url)


def test_csv_and_jsonl_gz_objects_load_into_one_table_and_only_new_or_changed_ones_are_read_again(
    gcs_server: GcsServer, bucket: str, make_pipeline, database_url: str, db_schema: str
) -> None:
    put(gcs_server, bucket, "in/a.csv", csv_body([(1, "ann"), (2, "bob")]))
    put(gcs_server, bucket, "in/deeper/b.jsonl.gz", jsonl_gz_body([(3, "cid")]))
    put(gcs_server, bucket, "elsewhere.csv", csv_body([(99, "not under the prefix")]))
    loaded = gcs_pipeline(make_pipeline, gcs_server, f"gs://{bucket}/in/")

    first = run_pipeline(loaded)
    assert (first.inserted, len(first.files)) == (3, 2)
    assert table_rows(database_url, db_schema) == [
        (1, "ann", f"gs://{bucket}/in/a.csv"),
        (2, "bob", f"gs://{bucket}/in/a.csv"),
        (3, "cid", f"gs://{bucket}/in/deeper/b.jsonl.gz"),
    ]
    second = run_pipeline(loaded)
    assert (second.files, second.unchanged_files) == ([], 2)

    put(gcs_server, bucket, "in/a.csv", csv_body([(1, "ann"), (2, "bobby")]))  # rewritten: a new size
    put(gcs_server, bucket, "in/c.csv", csv_body([(4, "dan")]))
    third = run_pipeline(loaded)
    assert sorted(f.path for f in third.files) == [f"gs://{bucket}/in/a.csv", f"gs://{bucket}/in/c.csv"]
    assert (third.inserted, third.updated, third.unchanged_files) == (1, 1, 1)
    assert [row[:2] for row in table_rows(database_url, db_schema)] == [
        (1, "ann"),
        (2, "bobby"),
        (3, "cid"),
        (4, "dan"),
    ]


def test_one_object_url_reads_that_object_only(
    gcs_server: GcsServer, bucket: str, make_pipeline, database_url: str, db_schema: str
) -> None:
    put(gcs_server, bucket, "a.csv", csv_body([(1, "ann")]))
    put(gcs_server, bucket, "b.csv", csv_body([(2, "bob")]))
    assert run_pipeline(gcs_pipeline(make_pipeline, gcs_server, f"gs://{bucket}/b.csv")).inserted == 1
    assert table_rows(database_url, db_schema) == [(2, "bob", f"gs://{bucket}/b.csv")]


def test_a_missing_bucket_is_one_line(gcs_server: GcsServer, make_pipeline) -> None:
    with pytest.raises(PipelineError) as raised:
        run_pipeline(gcs_pipeline(make_pipeline, gcs_server, "gs://no-such-bucket-here/in/"))
    assert str(raised.value) == "gs://no-such-bucket-here/in/: the bucket does not exist"


def test_the_sensor_listing_takes_a_capped_page_in_key_order_after_its_cursor(
    gcs_server: GcsServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in (2, 0, 1):
        put(gcs_server, bucket, f"in/{index:02d}.csv", b"id\n1\n")
    monkeypatch.setattr(listing, "MAX_OBJECTS_PER_TICK", 2)
    objects = source(gcs_server, f"gs://{bucket}/in/")
    loaded = type("Loaded", (), {"config": type("Config", (), {"sources": [objects]})()})()
    first, after = sensor_objects(loaded, {})
    second, after_second = sensor_objects(loaded, after)
    assert ([item.key for item in first], after[listing_key(objects)]) == (["in/00.csv", "in/01.csv"], "in/01.csv")
    assert ([item.key for item in second], after_second[listing_key(objects)]) == (["in/02.csv"], "")
    assert [item.key for item in list_objects(objects)] == ["in/02.csv", "in/00.csv", "in/01.csv"]  # oldest first


def test_source_model_checks_url_and_endpoint() -> None:
    def error(**fields: object) -> str:
        with pytest.raises(ValidationError) as raised:
            GcsSource(type="gcs", **({"url": "gs://b/"} | fields))
        return "; ".join(problem["msg"] for problem in raised.value.errors())

    assert "is not a gs://bucket/prefix/ or gs://bucket/key URL" in error(url="s3://b/x")
    assert "is not an http:// or https:// address" in error(endpoint_url="ftp://host:21")
    objects = GcsSource(type="gcs", url="gs://b/in/x.csv")
    assert (objects.bucket, objects.prefix, objects.object_url("in/y.csv")) == ("b", "in/x.csv", "gs://b/in/y.csv")
    assert not objects.anonymous
