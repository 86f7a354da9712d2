"""End to end: a paginated, token-protected API and a local folder loaded into one table through Dagster."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, instance_for_test, materialize

from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import load_config
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.http_api import FakeApi, Reply, Seen

TOKEN = "shop-token-5f1e2d-secret"
ORDERS = [
    {"id": 1, "customer": {"name": "Ann", "city": "Oslo"}, "amount": "10.50", "updated_at": "2024-01-01T10:00:00Z"},
    {"id": 2, "customer": {"name": "Bob", "city": "Rome"}, "amount": "20", "updated_at": "2024-01-02T10:00:00Z"},
    {"id": 3, "customer": {"name": "Cid", "city": "Lima"}, "amount": "30", "updated_at": "2024-01-03T10:00:00Z"},
]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()

    def orders(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply({"error": "unauthorized"}, status=401)
        since = seen.params.get("updated_since", "")
        matching = [o for o in ORDERS if o["updated_at"] > since]
        page = int(seen.params.get("page", "1"))
        return Reply({"data": {"items": matching[(page - 1) * 2 : page * 2]}})

    fake.route("/v1/orders", orders)
    fake.thread.start()
    yield fake
    fake.stopping.set()
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(timeout=5)


def pipeline_yaml(api: FakeApi, db_schema: str) -> str:
    return f"""
name: shop
sources:
  - type: api
    url: {api.url("/v1/orders")}
    auth:
      type: bearer
      token: ${{SHOP_TOKEN}}
    records_path: data.items
    paginate:
      type: page_number
      param: page
      page_size_param: per_page
      page_size: 2
    incremental:
      cursor_field: updated_at
      param: updated_since
  - type: local
    path: ../data
target:
  table: orders
  db_schema: {db_schema}
schema:
  columns:
    id: integer
    customer_name: string
    amount: decimal
    updated_at: timestamptz
"""


def test_api_and_local_files_load_into_one_table(
    api: FakeApi, tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    write(tmp_path / "data" / "shop.csv", "id,customer_name,amount,updated_at\n100,Local Ltd,5,2024-01-05 09:00\n")
    write(tmp_path / "configs" / "shop.yaml", pipeline_yaml(api, db_schema))
    defs = build_definitions(tmp_path / "configs")
    with instance_for_test() as instance:
        assets = [d for d in defs.assets if "shop" in getattr(d, "group_names_by_key", {}).values()]
        assert materialize(assets, instance=instance, resources=defs.resources).success
        loaded = instance.get_latest_materialization_event(AssetKey(["shop", "orders"])).asset_materialization
        assert loaded.metadata["inserted"].value == 4
        events = instance.all_logs(instance.get_runs()[0].run_id)
        assert all(TOKEN not in str(event) for event in events)
        assert TOKEN not in str(loaded.metadata)

        rows = fetch(
            database_url, f'SELECT id, customer_name, amount::text, _elt_source FROM "{db_schema}".orders ORDER BY id'
        )
        url = api.url("/v1/orders")
        assert rows == [
            (1, "Ann", "10.5", url),
            (2, "Bob", "20", url),
            (3, "Cid", "30", url),
            (100, "Local Ltd", "5", str(tmp_path / "data" / "shop.csv")),
        ]
        assert [s.params.get("page") for s in api.requests_to("/v1/orders")] == ["1", "2", "3"]
        extracted = instance.get_latest_materialization_event(AssetKey(["shop", "extracted"])).asset_materialization
        assert extracted.metadata["api_sources"].value == [
            {"url": url, "pages": 3, "records": 3, "stopped": "empty_page"}
        ]

        api.seen.clear()
        assert materialize(assets, instance=instance, resources=defs.resources).success
        # nothing new from the API: no second materialisation, the first load's figures stand
        assert len(instance.fetch_materializations(AssetKey(["shop", "orders"]), limit=5).records) == 1
        assert fetch(database_url, f'SELECT count(*) FROM "{db_schema}".orders') == [(4,)]
        # the second run asks only for what changed since the newest row it loaded
        assert {s.params.get("updated_since") for s in api.requests_to("/v1/orders")} == {"2024-01-03T10:00:00Z"}


def test_api_failure_is_a_clear_error_without_the_token(
    api: FakeApi, tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "wrong-token-value")
    (tmp_path / "data").mkdir()
    config = load_config(write(tmp_path / "configs" / "shop.yaml", pipeline_yaml(api, db_schema)))
    with pytest.raises(Exception) as caught:
        run_pipeline(config)
    message = str(caught.value)
    assert "401" in message and api.url("/v1/orders") in message and "wrong-token-value" not in message


def test_reaching_max_pages_is_a_warning_not_silence(
    api: FakeApi, tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    (tmp_path / "data").mkdir()
    write(
        tmp_path / "configs" / "shop.yaml",
        pipeline_yaml(api, db_schema).replace("    auth:", "    max_pages: 1\n    auth:"),
    )
    defs = build_definitions(tmp_path / "configs")
    with instance_for_test() as instance:
        result = defs.resolve_job_def("shop_elt").execute_in_process(instance=instance)
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert any("fetched 1 pages, 2 records" in w and "max_pages was reached" in w for w in warnings), warnings


@pytest.mark.parametrize("reply", [Reply([]), Reply(status=204)], ids=["[]", "204"])
def test_an_api_with_nothing_new_and_no_schema_loads_nothing(
    server: FakeApi, tmp_path: Path, database_url: str, db_schema: str, reply: Reply
) -> None:
    url = server.route("/v1/empty", lambda seen: reply)
    yaml = f"sources:\n  - type: api\n    url: {url}\ntarget:\n  table: t\n  db_schema: {db_schema}\n"
    report = run_pipeline(load_config(write(tmp_path / "configs" / "p.yaml", yaml)))
    assert (report.inserted, report.rejected, report.files) == (0, 0, [])
    assert report.api_sources == [{"url": url, "pages": 1, "records": 0, "stopped": "single_page"}]
