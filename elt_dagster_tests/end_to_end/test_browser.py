"""The Dagster UI in a real browser (Debian's Chromium driven by Playwright): assets, a load, the viewer role.

Screenshots go to env ELT_SCREENSHOT_DIR (default .elt/screenshots).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

from elt_dagster_tests.conftest import write
from elt_dagster_tests.pipelines import shop_yaml
from elt_dagster_tests.webserver import dagster_home, running_webserver

CHROMIUM = os.environ.get("ELT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("ELT_SCREENSHOT_DIR", ".elt/screenshots")).resolve()

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(f"no Chromium at {CHROMIUM} (CI installs it: apt-get install chromium)", allow_module_level=True)
sync_api = (
    pytest.importorskip("playwright.sync_api")
    if not os.environ.get("CI")
    else __import__("playwright.sync_api").sync_api
)


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url)
    page.wait_for_load_state("networkidle")
    skip = page.get_by_role("button", name="Skip")  # Dagster's "join the community" dialog
    if skip.count():
        skip.first.click()
    return page


def test_assets_load_and_viewer_in_a_real_browser(browser, tmp_path: Path, database_url: str, db_schema: str) -> None:
    write(tmp_path / "data" / "a.csv", "id,customer,amount\n1,Ann,10.5\n2,Bob,20\n3,Cid,30\n4,Dan,oops\n")
    columns = {"id": "integer", "customer": "string", "amount": "decimal"}
    write(tmp_path / "configs" / "shop.yaml", shop_yaml(db_schema, columns=columns))
    env = {
        "DAGSTER_HOME": str(dagster_home(tmp_path / "home")),
        "ELT_CONFIG_DIR": str(tmp_path / "configs"),
        "ELT_DATABASE_URL": database_url,
        "ELT_STATE_DIR": str(tmp_path / "state"),
        "PYTHONWARNINGS": "ignore",
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_webserver(env, tmp_path, tmp_path / "admin.log") as admin:
        page = open_page(browser, f"{admin}/assets/shop")  # the assets under the key prefix `shop`
        page.get_by_text("extracted").first.wait_for(timeout=30_000)
        text = page.inner_text("body")
        for name in ("extracted", "validated", "orders", "orders__rejected", "config_history"):
            assert name in text, f"asset {name} is not on the page"
        page.screenshot(path=str(SCREENSHOTS / "assets.png"))

        host, port = admin.removeprefix("http://").split(":")
        graphql = DagsterGraphQLClient(host, port_number=int(port), timeout=60)
        run_id = graphql.submit_job_execution("shop_elt")
        deadline = time.monotonic() + 120
        while (
            graphql.get_run_status(run_id).value not in ("SUCCESS", "FAILURE", "CANCELED")
            and time.monotonic() < deadline
        ):
            time.sleep(1)
        assert graphql.get_run_status(run_id).value == "SUCCESS"

        page = open_page(browser, f"{admin}/assets/shop/orders?view=events")
        page.get_by_text("inserted").first.wait_for(timeout=30_000)
        text = page.inner_text("body")
        assert "inserted" in text and "rejected" in text and "config_version" in text
        metadata = text[text.index("inserted") :]
        assert metadata.split()[1] == "3", metadata[:80]  # three valid rows landed, one was quarantined
        page.screenshot(path=str(SCREENSHOTS / "load.png"), full_page=True)

        page = open_page(browser, f"{admin}/assets/shop/orders__rejected?view=events")
        page.get_by_text("added_by_this_run").first.wait_for(timeout=30_000)
        page.get_by_text("is not a decimal number").first.wait_for(timeout=30_000)  # markdown renders after
        page.get_by_text("shop_replay_rejects").first.wait_for(timeout=30_000)
        text = page.inner_text("body")
        assert "by_reason" in text and "'oops' is not a decimal number" in text and "shop_replay_rejects" in text
        page.screenshot(path=str(SCREENSHOTS / "quarantine.png"), full_page=True)

    with running_webserver(env, tmp_path, tmp_path / "viewer.log", read_only=True) as viewer:
        page = open_page(browser, f"{viewer}/asset-groups/shop@elt_dagster:shop")
        button = page.get_by_role("button", name="Materialize all")
        button.first.wait_for(timeout=30_000)
        assert button.first.is_disabled(), "the viewer must not be able to launch a run"
        page.screenshot(path=str(SCREENSHOTS / "viewer.png"))


def test_screenshots_are_kept() -> None:
    """The browser test above left its screenshots for the README and docs/ui.md."""
    if not (SCREENSHOTS / "load.png").exists():
        pytest.skip("the browser test did not run in this session")
    assert shutil.disk_usage(SCREENSHOTS).free > 0
    assert (SCREENSHOTS / "load.png").stat().st_size > 10_000
    assert (SCREENSHOTS / "quarantine.png").stat().st_size > 10_000
