"""The sensor's bounded listing of a bucket prefix (ListObjectsV2 with start-after, signed here) against the real
`s3_server`: the same objects and fingerprints as pyarrow's listing, a prefix of 10,000+ objects swept a budget at a
time with every key seen once, and a store's refusal as one line without the secret."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.sources.objects import listing
from elt_dagster.engine.sources.objects.listing import listing_key, sensor_objects
from elt_dagster.engine.sources.objects.s3 import S3Source
from elt_dagster.engine.sources.objects.s3_listing import list_page
from elt_dagster.engine.sources.objects.store import list_objects
from elt_dagster_tests.s3_server import S3Server


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"l-{uuid.uuid4().hex[:12]}"
    s3_server.filesystem().create_dir(name)
    return name


def put_many(server: S3Server, bucket: str, keys: list[str]) -> None:
    store = server.filesystem()

    def put_one(key: str) -> None:
        with store.open_output_stream(f"{bucket}/{key}", compression=None) as stream:
            stream.write(b"id\n1\n")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put_one, keys))


def source(server: S3Server, url: str, pattern: str = "**/*", secret: str | None = None) -> S3Source:
    return S3Source(
        type="s3",
        url=url,
        pattern=pattern,
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key,
        secret_access_key=secret or server.secret_key,
    )


def by_key(item) -> str:
    return item.key


class Loaded:
    """The little of a LoadedConfig that `sensor_objects` reads."""

    def __init__(self, *sources: S3Source):
        self.config = type("Config", (), {"sources": list(sources)})()


@pytest.mark.parametrize("pattern", ["**/*", "*", "*.csv", "sub/*.json"])
def test_a_page_lists_what_pyarrow_lists_with_the_same_fingerprints(
    s3_server: S3Server, bucket: str, pattern: str
) -> None:
    put_many(s3_server, bucket, ["in/a.csv", "in/b.json", "in/sub/c.json", "in/sub/deep/d.csv", "inbox/e.csv"])
    for url in (f"s3://{bucket}/in/", f"s3://{bucket}/in"):
        whole = list_objects(source(s3_server, url, pattern))
        page = list_page(source(s3_server, url, pattern), "", 1_000)
        assert page is not None and page.next_after == ""
        assert page.listed == 4  # inbox/ is not under in/
        assert sorted(page.objects, key=by_key) == sorted(whole, key=by_key)
    assert whole  # every pattern matches something: the comparison is not of two empty lists


def test_ten_thousand_objects_are_swept_a_budget_at_a_time_each_key_once(
    s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [f"many/{index // 1000:02d}/{index:05d}.csv" for index in range(10_050)]
    put_many(s3_server, bucket, keys)
    monkeypatch.setattr(listing, "MAX_OBJECTS_PER_TICK", 3_000)
    objects = source(s3_server, f"s3://{bucket}/many/")
    after: dict[str, str] = {}
    ticks: list[list[str]] = []
    while not ticks or after[listing_key(objects)]:
        seen, after = sensor_objects(Loaded(objects), after)  # type: ignore[arg-type]
        ticks.append([item.key for item in seen])
    assert [len(keys_of_tick) for keys_of_tick in ticks] == [3_000, 3_000, 3_000, 1_050]
    assert [key for keys_of_tick in ticks for key in keys_of_tick] == keys  # in key order, none twice
    again, _ = sensor_objects(Loaded(objects), after)  # type: ignore[arg-type]
    assert [item.key for item in again] == keys[:3_000]  # the next sweep starts from the first key


def test_a_refused_page_is_one_line_naming_the_prefix_without_the_secret(s3_server: S3Server, bucket: str) -> None:
    wrong = "listing-wrong-secret-7a1e"
    with pytest.raises(PipelineError) as raised:
        list_page(source(s3_server, f"s3://{bucket}/in/", secret=wrong), "", 10)
    assert str(raised.value) == f"s3://{bucket}/in/: the credentials were refused (check secret_access_key)"
    with pytest.raises(PipelineError, match=r"^s3://l-missing-bucket/: the bucket does not exist$"):
        list_page(source(s3_server, "s3://l-missing-bucket/"), "", 10)


def test_without_keys_at_hand_the_page_is_none_and_the_sensor_lists_whole(
    s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    keyless = S3Source(type="s3", url=f"s3://{bucket}/in/", endpoint_url=s3_server.endpoint_url)
    assert list_page(keyless, "", 10) is None
