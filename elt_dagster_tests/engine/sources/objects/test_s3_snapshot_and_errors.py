"""A bucket prefix as a snapshot (`snapshot: true`), and the store's failures as one line naming the `s3://` URL,
against the real `s3_server`: a prefix the credentials may not read, an object shorter than its listing said, and a
Parquet object with a broken footer."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from elt_dagster.engine import staging
from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.objects.s3 import S3Source
from elt_dagster.engine.sources.objects.store import filesystem, list_objects, spool_object
from elt_dagster.engine.staging import StagingSpaceError, run_dir
from elt_dagster_tests.conftest import fetch
from elt_dagster_tests.engine.sources.objects.test_s3 import csv_body, parquet_body, put
from elt_dagster_tests.s3_server import READER_ACCESS_KEY, READER_BUCKET, READER_SECRET_KEY, S3Server


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"n-{uuid.uuid4().hex[:12]}"
    s3_server.filesystem().create_dir(name)
    return name


def pipeline(make_pipeline, server: S3Server, url: str, key: str, secret_var: str, snapshot: bool) -> LoadedConfig:
    """A merge pipeline on `url`, its secret key from the environment variable `secret_var`."""
    return make_pipeline(
        f"""
        name: bucket_snapshot
        sources:
          - type: s3
            url: {url}
            snapshot: {str(snapshot).lower()}
            endpoint_url: {server.endpoint_url}
            access_key_id: {key}
            secret_access_key: ${{{secret_var}}}
        target:
          table: accounts
          db_schema: {{schema}}
          mode: merge
          primary_key: [id]
          delete: hard
        schema:
          columns:
            id: integer
            name: string
        """
    )


def test_a_snapshot_prefix_is_read_whole_when_one_object_changed_and_keys_it_lacks_are_deleted(
    s3_server: S3Server,
    bucket: str,
    make_pipeline,
    database_url: str,
    db_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3_SECRET", s3_server.secret_key)
    put(s3_server, bucket, "accounts/a.csv", csv_body([(1, "ann"), (2, "bob"), (3, "cid")]))
    put(s3_server, bucket, "accounts/b.csv", csv_body([(4, "dan"), (5, "eve"), (6, "fay")]))
    loaded = pipeline(make_pipeline, s3_server, f"s3://{bucket}/accounts/", s3_server.access_key, "S3_SECRET", True)
    assert run_pipeline(loaded).inserted == 6

    unchanged = run_pipeline(loaded)
    assert (unchanged.files, unchanged.deleted, unchanged.row_count) == ([], 0, 6)

    put(s3_server, bucket, "accounts/b.csv", csv_body([(4, "dan")]))  # the next snapshot lacks 5 and 6
    second = run_pipeline(loaded)
    assert sorted(f.path for f in second.files) == [f"s3://{bucket}/accounts/{k}" for k in ("a.csv", "b.csv")]
    assert (second.deleted, second.row_count) == (2, 4)
    assert fetch(database_url, f'SELECT id FROM "{db_schema}".accounts ORDER BY id') == [(1,), (2,), (3,), (4,)]

    s3_server.filesystem().delete_file(f"{bucket}/accounts/b.csv")  # a deleted object is a change too
    third = run_pipeline(loaded)
    assert ([f.path for f in third.files], third.deleted) == ([f"s3://{bucket}/accounts/a.csv"], 1)
    assert run_pipeline(loaded).files == []  # the deleted object forgotten


def test_a_prefix_the_credentials_may_not_read_is_one_line_naming_it(
    s3_server: S3Server, bucket: str, make_pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = s3_server.filesystem()
    store.create_dir(READER_BUCKET)
    put(s3_server, READER_BUCKET, "mine/a.csv", csv_body([(1, "ann")]))
    put(s3_server, bucket, "theirs/a.csv", csv_body([(1, "ann")]))
    monkeypatch.setenv("READER_SECRET", READER_SECRET_KEY)
    allowed = pipeline(
        make_pipeline, s3_server, f"s3://{READER_BUCKET}/mine/", READER_ACCESS_KEY, "READER_SECRET", False
    )
    assert run_pipeline(allowed).inserted == 1  # the identity works where it may read

    denied = pipeline(make_pipeline, s3_server, f"s3://{bucket}/theirs/", READER_ACCESS_KEY, "READER_SECRET", False)
    with pytest.raises(PipelineError) as raised:
        run_pipeline(denied)
    message = str(raised.value)
    assert message == f"s3://{bucket}/theirs/: access denied (the credentials may not read this bucket or prefix)"
    assert READER_SECRET_KEY not in message


def test_an_object_shorter_than_its_listing_is_one_line_naming_it(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    """The store cuts nothing short on its own: the object is rewritten shorter between the listing and the read,
    which is what a transfer cut short looks like to the check (fewer bytes than the listed size)."""
    put(s3_server, bucket, "in/a.csv", csv_body([(1, "ann"), (2, "bob")]))
    source = S3Source(
        type="s3",
        url=f"s3://{bucket}/in/",
        endpoint_url=s3_server.endpoint_url,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
    )
    [listed] = list_objects(source)
    put(s3_server, bucket, "in/a.csv", csv_body([(1, "ann")]))
    with pytest.raises(PipelineError) as raised:
        spool_object(filesystem(source), listed, tmp_path / "a.csv")
    assert str(raised.value) == (
        f"s3://{bucket}/in/a.csv: read 14 of its {listed.size} bytes (the object was cut short, or rewritten since "
        "it was listed: run again)"
    )


def test_a_parquet_object_with_a_broken_footer_is_one_line_naming_its_url(
    s3_server: S3Server, bucket: str, make_pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = parquet_body([(1, "ann")])
    put(s3_server, bucket, "in/good.parquet", body)
    put(s3_server, bucket, "in/bad.parquet", body[:-12] + b"\x00" * 8 + b"PAR1")  # the footer's length broken
    monkeypatch.setenv("S3_SECRET", s3_server.secret_key)
    loaded = pipeline(make_pipeline, s3_server, f"s3://{bucket}/in/", s3_server.access_key, "S3_SECRET", False)
    with pytest.raises(PipelineError) as raised:
        run_pipeline(loaded)
    message = str(raised.value)
    assert message.startswith(f"s3://{bucket}/in/bad.parquet: not a readable Parquet file (")
    assert "\n" not in message and s3_server.secret_key not in message


def test_a_full_disk_while_downloading_is_the_staging_disk_line_and_the_next_run_loads(
    s3_server: S3Server, bucket: str, make_pipeline, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC writing a downloaded object is the run's disk, not the store: one line naming the staging folder."""
    monkeypatch.setenv("S3_SECRET", s3_server.secret_key)
    put(s3_server, bucket, "accounts/a.csv", csv_body([(1, "ann")]))
    loaded = pipeline(make_pipeline, s3_server, f"s3://{bucket}/accounts/", s3_server.access_key, "S3_SECRET", False)
    spooled = run_dir(loaded.name, "full") / "objects" / "000000_a.csv"
    spooled.parent.mkdir(parents=True)
    spooled.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    with pytest.raises(StagingSpaceError) as raised:
        run_pipeline(loaded, run_id="full")
    message = str(raised.value)
    assert "\n" not in message and f"the disk of the staging folder {spooled.parent.parent} is full" in message
    assert not spooled.parent.parent.exists()
    assert run_pipeline(loaded).inserted == 1


def test_objects_larger_than_the_free_space_are_refused_before_any_download(
    s3_server: S3Server, bucket: str, make_pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The free space is checked against the objects' listed sizes (each, and its staged rows) before one is
    fetched (the disk's free space is what the check reads: set here below what the object needs)."""
    monkeypatch.setenv("S3_SECRET", s3_server.secret_key)
    body = csv_body([(1, "ann"), (2, "bob")])
    put(s3_server, bucket, "accounts/a.csv", body)
    loaded = pipeline(make_pipeline, s3_server, f"s3://{bucket}/accounts/", s3_server.access_key, "S3_SECRET", False)
    monkeypatch.setattr(staging, "free_bytes", lambda folder: 2 * len(body) - 1)
    with pytest.raises(StagingSpaceError, match=r"^not enough disk space for the staging files in .* needs about"):
        run_pipeline(loaded, run_id="small-disk")
    assert not run_dir(loaded.name, "small-disk").exists()
