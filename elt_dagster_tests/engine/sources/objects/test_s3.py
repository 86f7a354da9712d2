"""Object storage sources (`type: s3`) against a real S3-compatible server (SeaweedFS, the `s3_server` fixture):
CSV, gzipped JSON Lines and Parquet objects into one table, only new or changed objects read, 10,000 objects
listed, and every failure of the store one line that never shows the secret key."""

from __future__ import annotations

import gzip
import io
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.objects.models import key_pattern
from elt_dagster.engine.sources.objects.s3 import S3Source
from elt_dagster.engine.sources.objects.store import list_objects
from elt_dagster_tests.conftest import fetch
from elt_dagster_tests.s3_server import S3Server

WRONG_SECRET = "wrong-secret-9d8c7b6a5f"


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A new empty bucket for one test."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_server.filesystem().create_dir(name)
    return name


def put(server: S3Server, bucket: str, key: str, body: bytes) -> None:
    """Write an object as given (no compression added by pyarrow)."""
    with server.filesystem().open_output_stream(f"{bucket}/{key}", compression=None) as stream:
        stream.write(body)


def csv_body(rows: list[tuple[int, str]]) -> bytes:
    return ("id,name\n" + "".join(f"{i},{name}\n" for i, name in rows)).encode()


def jsonl_gz_body(rows: list[tuple[int, str]]) -> bytes:
    return gzip.compress("".join(json.dumps({"id": i, "name": name}) + "\n" for i, name in rows).encode(), mtime=0)


def parquet_body(rows: list[tuple[int, str]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [i for i, _ in rows], "name": [name for _, name in rows]}), sink)
    return sink.getvalue()


def s3_pipeline(make_pipeline, server: S3Server, url: str, pattern: str = "**/*") -> LoadedConfig:
    """A merge pipeline reading `url` with the server's keys taken from the environment (S3_KEY, S3_SECRET)."""
    return make_pipeline(
        f"""
        name: bucket_orders
        sources:
          - type: s3
            url: {url}
            pattern: "{pattern}"
            endpoint_url: {server.endpoint_url}
            region: us-east-1
            access_key_id: ${{S3_KEY}}
            secret_access_key: ${{S3_SECRET}}
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


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    monkeypatch.setenv("S3_KEY", s3_server.access_key)
    monkeypatch.setenv("S3_SECRET", s3_server.secret_key)
    return s3_server


def table_rows(database_url: str, schema: str) -> list[tuple]:
    return fetch(database_url, f'SELECT id, name, _elt_source FROM "{schema}".orders ORDER BY id')


def test_csv_jsonl_gz_and_parquet_objects_load_into_one_table_and_only_new_or_changed_ones_are_read_again(
    s3_env: S3Server, bucket: str, make_pipeline, database_url: str, db_schema: str
) -> None:
    put(s3_env, bucket, "in/a.csv", csv_body([(1, "ann"), (2, "bob")]))
    put(s3_env, bucket, "in/deeper/b.jsonl.gz", jsonl_gz_body([(3, "cid")]))
    put(s3_env, bucket, "in/c.parquet", parquet_body([(4, "dan")]))
    put(s3_env, bucket, "elsewhere.csv", csv_body([(99, "not under the prefix")]))
    loaded = s3_pipeline(make_pipeline, s3_env, f"s3://{bucket}/in/")

    first = run_pipeline(loaded)
    assert (first.inserted, len(first.files)) == (4, 3)
    assert table_rows(database_url, db_schema) == [
        (1, "ann", f"s3://{bucket}/in/a.csv"),
        (2, "bob", f"s3://{bucket}/in/a.csv"),
        (3, "cid", f"s3://{bucket}/in/deeper/b.jsonl.gz"),
        (4, "dan", f"s3://{bucket}/in/c.parquet"),
    ]
    stored = fetch(database_url, "SELECT path, size FROM elt.file_fingerprints WHERE pipeline = 'bucket_orders'")
    assert sorted(path for path, _ in stored) == [
        f"s3://{bucket}/in/{k}" for k in ("a.csv", "c.parquet", "deeper/b.jsonl.gz")
    ]

    second = run_pipeline(loaded)
    assert (second.files, second.unchanged_files) == ([], 3)

    put(s3_env, bucket, "in/a.csv", csv_body([(1, "ann"), (2, "bobby")]))  # rewritten: a new size
    third = run_pipeline(loaded)
    assert [f.path for f in third.files] == [f"s3://{bucket}/in/a.csv"]
    assert (third.updated, third.unchanged_files) == (1, 2)

    put(s3_env, bucket, "in/d.csv", csv_body([(5, "eve")]))
    fourth = run_pipeline(loaded)
    assert [f.path for f in fourth.files] == [f"s3://{bucket}/in/d.csv"]
    assert [row[:2] for row in table_rows(database_url, db_schema)] == [
        (1, "ann"),
        (2, "bobby"),
        (3, "cid"),
        (4, "dan"),
        (5, "eve"),
    ]


def test_one_object_url_reads_that_object_only(
    s3_env: S3Server, bucket: str, make_pipeline, database_url: str, db_schema: str
) -> None:
    put(s3_env, bucket, "a.csv", csv_body([(1, "ann")]))
    put(s3_env, bucket, "b.csv", csv_body([(2, "bob")]))
    report = run_pipeline(s3_pipeline(make_pipeline, s3_env, f"s3://{bucket}/b.csv"))
    assert report.inserted == 1
    assert table_rows(database_url, db_schema) == [(2, "bob", f"s3://{bucket}/b.csv")]


@pytest.mark.slow  # creating 10,000 objects takes about half a minute
def test_listing_finds_ten_thousand_objects(s3_server: S3Server, bucket: str) -> None:
    keys = [f"many/{index // 1000:02d}/{index:05d}.csv" for index in range(10_000)]
    store = s3_server.filesystem()

    def put_one(key: str) -> None:
        with store.open_output_stream(f"{bucket}/{key}", compression=None) as stream:
            stream.write(b"id\n1\n")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put_one, keys))
    source = S3Source(
        type="s3",
        url=f"s3://{bucket}/many/",
        pattern="**/*.csv",
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
    )
    listed = list_objects(source)
    assert sorted(item.key for item in listed) == keys
    assert {item.size for item in listed} == {5}
    assert list_objects(source.model_copy(update={"pattern": "*"})) == []  # `*` stays at the prefix's own level


def every_stored_text(database_url: str, schema: str) -> str:
    """Every row of every table of the bookkeeping schema and of the test's schema, as text."""
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('elt', %s)",
            (schema,),
        ).fetchall()
        texts = [
            str(conn.execute(f'SELECT t::text FROM "{table_schema}"."{name}" t').fetchall())
            for table_schema, name in tables
        ]
    return "\n".join(texts)


def test_a_wrong_secret_key_is_one_line_naming_the_bucket_and_no_secret_is_stored_or_logged(
    s3_env: S3Server,
    bucket: str,
    make_pipeline,
    database_url: str,
    db_schema: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    put(s3_env, bucket, "a.csv", csv_body([(1, "ann")]))
    assert run_pipeline(s3_pipeline(make_pipeline, s3_env, f"s3://{bucket}/")).inserted == 1

    monkeypatch.setenv("S3_SECRET", WRONG_SECRET)
    with pytest.raises(PipelineError) as raised:
        run_pipeline(s3_pipeline(make_pipeline, s3_env, f"s3://{bucket}/"))
    message = str(raised.value)
    assert message == f"s3://{bucket}/: the credentials were refused (check secret_access_key)"
    assert "\n" not in message and WRONG_SECRET not in message

    stored = every_stored_text(database_url, db_schema)
    assert "ann" in stored  # the query does see the loaded rows
    for secret in (s3_env.secret_key, WRONG_SECRET):
        assert secret not in stored
        assert secret not in caplog.text


def test_a_missing_bucket_is_one_line(s3_env: S3Server, make_pipeline) -> None:
    with pytest.raises(PipelineError) as raised:
        run_pipeline(s3_pipeline(make_pipeline, s3_env, "s3://no-such-bucket-here/in/"))
    assert str(raised.value) == "s3://no-such-bucket-here/in/: the bucket does not exist"


def test_an_unreachable_endpoint_is_one_line_without_the_secret(s3_server: S3Server) -> None:
    source = S3Source(
        type="s3", url="s3://b/", endpoint_url="http://127.0.0.1:1", access_key_id="k", secret_access_key=WRONG_SECRET
    )
    with pytest.raises(PipelineError) as raised:
        list_objects(source)
    message = str(raised.value)
    assert message.startswith("s3://b/: can't reach http://127.0.0.1:1 (")
    assert "\n" not in message and WRONG_SECRET not in message


def test_source_model_checks_url_endpoint_keys_and_pattern() -> None:
    def error(**fields: object) -> str:
        with pytest.raises(ValidationError) as raised:
            S3Source(type="s3", **({"url": "s3://b/"} | fields))
        return "; ".join(problem["msg"] for problem in raised.value.errors())  # what a user is shown

    assert "is not an s3://bucket/prefix/" in error(url="https://b/x")
    assert "is not an s3://bucket/prefix/" in error(url="s3:///x")
    assert "user" not in error(url="s3://user:pw@b/x")
    assert "is not an http:// or https:// address" in error(endpoint_url="ftp://host:21")
    assert "give both access_key_id and secret_access_key" in error(access_key_id="k")
    assert "is not a pattern of keys" in error(pattern="/abs/*.csv")
    assert "unknown encoding 'utf-9'" in error(encoding="utf-9")
    source = S3Source(type="s3", url="s3://b/in/x.csv", secret_access_key=WRONG_SECRET, access_key_id="k")
    assert (source.bucket, source.prefix, source.object_url("in/y.csv")) == ("b", "in/x.csv", "s3://b/in/y.csv")
    assert WRONG_SECRET not in repr(source)


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("*", ["a.csv"], ["d/a.csv"]),
        ("**/*", ["a.csv", "d/a.csv", "d/e/a.csv"], []),
        ("**/*.csv", ["a.csv", "d/e/a.csv"], ["a.json", "d/a.csv.gz"]),
        ("d/*.json?", ["d/a.jsonl"], ["d/a.json", "e/a.jsonl", "d/e/a.jsonl"]),
        ("[ab]*.csv", ["a1.csv", "b.csv"], ["c.csv"]),
        ("[!a]*.csv", ["b.csv"], ["a.csv"]),
    ],
)
def test_key_patterns_glob_like_local_patterns(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    regex = key_pattern(pattern)
    assert [key for key in matching if regex.match(key)] == matching
    assert [key for key in not_matching if regex.match(key)] == []


def test_spooled_object_keeps_its_suffix_and_time(s3_server: S3Server, bucket: str, tmp_path: Path) -> None:
    from elt_dagster.engine.sources.objects.store import spool_objects

    put(s3_server, bucket, "x/y.jsonl.gz", jsonl_gz_body([(1, "a")]))
    source = S3Source(
        type="s3",
        url=f"s3://{bucket}/x/",
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
    )
    [(spooled, fingerprint)] = spool_objects(list_objects(source), tmp_path)
    assert spooled.path.name.endswith("_y.jsonl.gz") and spooled.source_label == f"s3://{bucket}/x/y.jsonl.gz"
    assert spooled.path.read_bytes() == jsonl_gz_body([(1, "a")])
    assert (spooled.path.stat().st_size, spooled.path.stat().st_mtime_ns) == (fingerprint.size, fingerprint.mtime_ns)


def test_the_dry_run_reads_the_objects(s3_env: S3Server, bucket: str, make_pipeline, tmp_path: Path) -> None:
    from elt_dagster.engine.dry_run import check_pipeline

    put(s3_env, bucket, "a.csv", csv_body([(1, "ann"), (2, "bob")]))
    report = check_pipeline(s3_pipeline(make_pipeline, s3_env, f"s3://{bucket}/"), tmp_path / "check")
    assert (report.rows_valid, [f.path for f in report.files]) == (2, [f"s3://{bucket}/a.csv"])


def test_a_partitioned_pipeline_refuses_an_s3_source(tmp_path: Path) -> None:
    from elt_dagster.engine.config import ConfigError, load_config
    from elt_dagster_tests.conftest import write

    path = write(
        tmp_path / "p.yaml",
        """
        sources:
          - {type: s3, url: "s3://b/in/"}
        target: {table: t}
        partitions: {by: files}
        """,
    )
    with pytest.raises(ConfigError, match="an s3 source can't be partitioned yet"):
        load_config(path)
