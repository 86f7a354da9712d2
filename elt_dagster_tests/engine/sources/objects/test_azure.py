"""Azure Blob Storage sources (`type: azure`) against a real emulator (Azurite, the `azure_server` fixture): CSV and
gzipped JSON Lines blobs into one table, only new or changed blobs read, the sensor's capped listing, and every
failure one line naming the `az://` URL that never shows the account key."""

from __future__ import annotations

import base64
import logging
import uuid

import pytest
from pydantic import ValidationError

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.objects import listing
from elt_dagster.engine.sources.objects.azure import AzureSource
from elt_dagster.engine.sources.objects.listing import listing_key, sensor_objects
from elt_dagster.engine.sources.objects.store import list_objects
from elt_dagster_tests.azure_server import AzureServer
from elt_dagster_tests.engine.sources.objects.test_s3 import csv_body, every_stored_text, jsonl_gz_body, table_rows

WRONG_KEY = base64.b64encode(b"wrong-azure-account-key-5e0c").decode()


@pytest.fixture
def container(azure_server: AzureServer) -> str:
    """A new empty container for one test (3 to 63 lowercase letters, digits and dashes)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    azure_server.filesystem().create_dir(name)
    return name


@pytest.fixture
def azure_env(azure_server: AzureServer, monkeypatch: pytest.MonkeyPatch) -> AzureServer:
    monkeypatch.setenv("AZ_KEY", azure_server.account_key)
    return azure_server


def put(server: AzureServer, container: str, name: str, body: bytes) -> None:
    """Write a blob as given (no compression added by pyarrow)."""
    with server.filesystem().open_output_stream(f"{container}/{name}", compression=None) as stream:
        stream.write(body)


def azure_pipeline(make_pipeline, server: AzureServer, url: str) -> LoadedConfig:
    """A merge pipeline reading `url`, the account key from the environment (AZ_KEY)."""
    return make_pipeline(
        f"""
        name: blob_orders
        sources:
          - type: azure
            url: {url}
            pattern: "**/*"
            account_name: {server.account_name}
            account_key: ${{AZ_KEY}}
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


def source(server: AzureServer, url: str, key: str | None = None) -> AzureSource:
    return AzureSource(
        type="azure",
        url=url,
        pattern="**/*",
        account_name=server.account_name,
        account_key=key or server.account_key,
        endpoint_url=server.endpoint_url,
    )


def test_csv_and_jsonl_gz_blobs_load_into_one_table_and_only_new_or_changed_ones_are_read_again(
    azure_env: AzureServer, container: str, make_pipeline, database_url: str, db_schema: str
) -> None:
    put(azure_env, container, "in/a.csv", csv_body([(1, "ann"), (2, "bob")]))
    put(azure_env, container, "in/deeper/b.jsonl.gz", jsonl_gz_body([(3, "cid")]))
    put(azure_env, container, "elsewhere.csv", csv_body([(99, "not under the prefix")]))
    loaded = azure_pipeline(make_pipeline, azure_env, f"az://{container}/in/")

    first = run_pipeline(loaded)
    assert (first.inserted, len(first.files)) == (3, 2)
    assert table_rows(database_url, db_schema) == [
        (1, "ann", f"az://{container}/in/a.csv"),
        (2, "bob", f"az://{container}/in/a.csv"),
        (3, "cid", f"az://{container}/in/deeper/b.jsonl.gz"),
    ]
    second = run_pipeline(loaded)
    assert (second.files, second.unchanged_files) == ([], 2)

    put(azure_env, container, "in/a.csv", csv_body([(1, "ann"), (2, "bobby")]))  # rewritten: a new size
    third = run_pipeline(loaded)
    assert [f.path for f in third.files] == [f"az://{container}/in/a.csv"]
    assert (third.updated, third.unchanged_files) == (1, 1)
    assert [row[:2] for row in table_rows(database_url, db_schema)] == [(1, "ann"), (2, "bobby"), (3, "cid")]


def test_one_blob_url_reads_that_blob_only(
    azure_env: AzureServer, container: str, make_pipeline, database_url: str, db_schema: str
) -> None:
    put(azure_env, container, "a.csv", csv_body([(1, "ann")]))
    put(azure_env, container, "b.csv", csv_body([(2, "bob")]))
    assert run_pipeline(azure_pipeline(make_pipeline, azure_env, f"az://{container}/b.csv")).inserted == 1
    assert table_rows(database_url, db_schema) == [(2, "bob", f"az://{container}/b.csv")]


def test_a_wrong_account_key_is_one_line_naming_the_url_and_no_key_is_stored_or_logged(
    azure_env: AzureServer,
    container: str,
    make_pipeline,
    database_url: str,
    db_schema: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    put(azure_env, container, "a.csv", csv_body([(1, "ann")]))
    assert run_pipeline(azure_pipeline(make_pipeline, azure_env, f"az://{container}/")).inserted == 1

    monkeypatch.setenv("AZ_KEY", WRONG_KEY)
    with pytest.raises(PipelineError) as raised:
        run_pipeline(azure_pipeline(make_pipeline, azure_env, f"az://{container}/"))
    assert str(raised.value) == f"az://{container}/: the credentials were refused (check account_key)"

    stored = every_stored_text(database_url, db_schema)
    assert "ann" in stored  # the query does see the loaded rows
    for key in (azure_env.account_key, WRONG_KEY):
        assert key not in stored and key not in caplog.text


def test_a_missing_container_and_an_unreachable_endpoint_are_one_line_each(azure_server: AzureServer) -> None:
    with pytest.raises(PipelineError, match=r"^az://no-such-container/in/: the container does not exist$"):
        list_objects(source(azure_server, "az://no-such-container/in/"))
    unreachable = source(azure_server, "az://c/in/", key=WRONG_KEY).model_copy(
        update={"endpoint_url": "http://127.0.0.1:1"}
    )
    with pytest.raises(PipelineError) as raised:
        list_objects(unreachable)
    message = str(raised.value)
    assert message.startswith("az://c/in/: can't reach http://127.0.0.1:1 (")
    assert "\n" not in message and WRONG_KEY not in message


def test_the_sensor_listing_takes_a_capped_page_in_key_order_after_its_cursor(
    azure_server: AzureServer, container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Azure has no start-after: the whole prefix is listed, and a tick keeps the keys after the cursor."""
    names = [f"in/{index:02d}.csv" for index in (4, 0, 3, 1, 2)]
    for name in names:
        put(azure_server, container, name, b"id\n1\n")
    monkeypatch.setattr(listing, "MAX_OBJECTS_PER_TICK", 2)
    blobs = source(azure_server, f"az://{container}/in/")
    loaded = type("Loaded", (), {"config": type("Config", (), {"sources": [blobs]})()})()
    after: dict[str, str] = {}
    ticks: list[list[str]] = []
    while not ticks or after[listing_key(blobs)]:
        seen, after = sensor_objects(loaded, after)
        ticks.append([item.key for item in seen])
    assert ticks == [["in/00.csv", "in/01.csv"], ["in/02.csv", "in/03.csv"], ["in/04.csv"]]


def test_source_model_checks_url_and_account_and_hides_the_key() -> None:
    def error(**fields: object) -> str:
        with pytest.raises(ValidationError) as raised:
            AzureSource(type="azure", **({"url": "az://c/", "account_name": "acct"} | fields))
        return "; ".join(problem["msg"] for problem in raised.value.errors())

    assert "is not an az://container/prefix/ or az://container/key URL" in error(url="s3://c/x")
    assert "is not an http:// or https:// address" in error(endpoint_url="ftp://host:21")
    with pytest.raises(ValidationError, match="account_name"):
        AzureSource(type="azure", url="az://c/")
    blobs = AzureSource(type="azure", url="az://c/in/x.csv", account_name="acct", account_key=WRONG_KEY)
    assert (blobs.bucket, blobs.prefix, blobs.object_url("in/y.csv")) == ("c", "in/x.csv", "az://c/in/y.csv")
    assert WRONG_KEY not in repr(blobs) and blobs.redact(f"key={WRONG_KEY}") == "key=***"
