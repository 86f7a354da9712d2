"""ETags in object fingerprints (S3's signed listing gives them): an object rewritten at the same size within the
same second as its recorded last-modified time is still read again; objects listed without one (pyarrow's listing,
fingerprints recorded before) are judged by size and last-modified alone."""

from __future__ import annotations

import psycopg
import pytest

from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.objects.s3 import S3Source
from elt_dagster.engine.sources.objects.store import list_objects
from elt_dagster.engine.sources.objects.stored import ObjectFingerprint
from elt_dagster.engine.state.fingerprints import Fingerprint, files_to_read
from elt_dagster_tests.engine.sources.objects.test_s3 import bucket, csv_body, put, s3_env, s3_pipeline, table_rows
from elt_dagster_tests.s3_server import S3Server

__all__ = ["bucket", "s3_env"]  # fixtures used here


def source(server: S3Server, url: str) -> S3Source:
    return S3Source(
        type="s3",
        url=url,
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
    )


def test_the_listing_gives_each_object_its_etag_and_a_rewrite_a_new_one(s3_server: S3Server, bucket: str) -> None:
    put(s3_server, bucket, "in/a.csv", csv_body([(1, "one")]))
    put(s3_server, bucket, "in/b.csv", csv_body([(2, "two")]))
    [a, b] = sorted(list_objects(source(s3_server, f"s3://{bucket}/in/")), key=lambda item: item.key)
    assert a.etag and b.etag and a.etag != b.etag and a.fingerprint.content_hash == a.etag
    put(s3_server, bucket, "in/a.csv", csv_body([(3, "one")]))  # same size, new content
    [one] = list_objects(source(s3_server, f"s3://{bucket}/in/a.csv"))  # a one-object URL: its ETag too
    assert (one.key, one.size) == ("in/a.csv", a.size) and one.etag not in ("", a.etag)


@pytest.mark.parametrize(
    ("now_etag", "recorded_etag", "changed"),
    [("e2", "e1", True), ("e1", "e1", False), ("e2", "", False), ("", "e1", False)],
)
def test_an_etag_tells_a_change_only_when_both_sides_know_it(now_etag: str, recorded_etag: str, changed: bool):
    now = ObjectFingerprint("s3://b/k.csv", 10, 1_000_000_000, now_etag)
    recorded = Fingerprint("s3://b/k.csv", 10, 1_000_000_000, recorded_etag)
    assert files_to_read([now], {now.path: (recorded, 0.0)}, check_content=False) == ([now] if changed else [])


def test_an_object_rewritten_at_the_same_size_and_second_is_read_again(
    s3_env: S3Server, bucket: str, make_pipeline, database_url: str, db_schema: str
) -> None:
    """The recorded fingerprint is given the rewritten object's last-modified time (as when the rewrite lands in the
    same second as the listing): only the ETag differs, and the next run reads the object."""
    put(s3_env, bucket, "in/a.csv", csv_body([(1, "one")]))
    loaded = s3_pipeline(make_pipeline, s3_env, f"s3://{bucket}/in/")
    assert run_pipeline(loaded, run_id="first").inserted == 1
    put(s3_env, bucket, "in/a.csv", csv_body([(2, "two")]))
    [rewritten] = list_objects(loaded.config.sources[0])
    with psycopg.connect(database_url, autocommit=True) as conn:
        updated = conn.execute(
            "UPDATE elt.file_fingerprints SET mtime_ns = %s WHERE pipeline = %s AND path = %s AND size = %s",
            (rewritten.mtime_ns, loaded.name, rewritten.url, rewritten.size),
        ).rowcount
    assert updated == 1
    report = run_pipeline(loaded, run_id="second")
    assert report.inserted == 1
    assert [row[:2] for row in table_rows(database_url, db_schema)] == [(1, "one"), (2, "two")]
    assert run_pipeline(loaded, run_id="third").inserted == 0  # recorded with its ETag: not read a third time
