"""Values from the environment outside `auth:` (a `${TOKEN}` in the URL path, in a POST body) appear nowhere, and a
server that breaks or trickles mid-response ends in one line naming the URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import instance_for_test
from dagster_shared.serdes import serialize_value

from elt_dagster.cli import main
from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import load_config
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.errors import PipelineError
from elt_dagster_tests.conftest import fetch, write
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.http_api import FakeApi, Reply, Seen

pytestmark = pytest.mark.faults

TOKEN = "tok-7e3a9b-in-the-path"
BODY_SECRET = "qry-5c1d8f-in-the-body"
REGION = "eu-west-9"
"""Declared public: kept wherever it shows."""


def leaky_yaml(server: FakeApi, db_schema: str) -> str:
    return f"""
name: leaky
public_env: [ELT_LEAK_REGION]
sources:
  - type: api
    url: {server.base}/v1/${{ELT_LEAK_TOKEN}}/${{ELT_LEAK_REGION}}/items
    method: POST
    json:
      query: ${{ELT_LEAK_BODY}}
    records_path: items
target:
  table: items
  db_schema: {db_schema}
"""


def echo(status: int):
    """An API that echoes the request (its path and body) in its answer, as some do in their errors."""

    def answer(seen: Seen) -> Reply:
        said = f"{seen.method} {seen.path} {seen.body.decode()}"
        return Reply({"items": [{"id": 1}, {"id": 2}], "echo": said} if status == 200 else {"error": said}, status)

    return answer


@pytest.mark.parametrize("status", [200, 400])
def test_a_token_in_the_url_path_and_the_post_body_appears_nowhere(
    server: FakeApi,
    tmp_path: Path,
    db_schema: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    for name, value in {"ELT_LEAK_TOKEN": TOKEN, "ELT_LEAK_BODY": BODY_SECRET, "ELT_LEAK_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    path = f"/v1/{TOKEN}/{REGION}/items"
    server.route(path, echo(status))
    configs = tmp_path / "configs"
    write(configs / "leaky.yaml", leaky_yaml(server, db_schema))
    monkeypatch.setenv("ELT_CONFIG_DIR", str(configs))
    with instance_for_test() as instance:
        job = build_definitions(configs).resolve_job_def("leaky_elt")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert result.success == (status == 200)
        stored = serialize_value(instance.get_run_by_id(result.run_id))
        stored += "".join(serialize_value(event) for event in instance.all_logs(result.run_id))
    assert json.loads(server.requests_to(path)[0].body) == {"query": BODY_SECRET}  # the secrets were sent
    stored += "".join(str(row) for row in fetch(database_url, "SELECT * FROM elt.config_history"))
    for file in (tmp_path / "state").rglob("*"):
        stored += file.read_text(errors="replace") if file.is_file() else ""
    if status == 200:
        sources = fetch(database_url, f'SELECT DISTINCT _elt_source FROM "{db_schema}".items')
        assert sources == [(f"{server.base}/v1/***/{REGION}/items",)]  # the public variable is kept
        # rows loaded before values from the environment were masked: preview masks them when it shows them
        fetch(database_url, f'UPDATE "{db_schema}".items SET _elt_source = %s RETURNING 1', server.url(path))
        assert main(["preview", "leaky"]) == 0
    assert main(["check", "leaky"]) == (0 if status == 200 else 1)
    shown = capsys.readouterr()
    stored += shown.out + shown.err
    if status != 200:
        assert f"POST {server.base}/v1/***/{REGION}/items returned HTTP 400" in shown.err
        assert '{\\"query\\": \\"***\\"}' in shown.err  # the echoed body (JSON in JSON), masked
    assert TOKEN not in stored and BODY_SECRET not in stored
    assert "*" in stored and REGION in stored
    record("secrets", f"${{TOKEN}} in the URL path and POST body, API {status}", "in no output, table or file")


def dry_run(server: FakeApi, tmp_path: Path, reply: Reply, timeout: float = 5) -> str:
    """The one-line error of a dry run of an API source answered with `reply`."""
    text = f"sources:\n  - type: api\n    url: {server.route('/r', lambda s: reply)}\n    timeout_seconds: {timeout}\n"
    loaded = load_config(write(tmp_path / "configs" / "p.yaml", text + "target:\n  table: t\n"))
    with pytest.raises(PipelineError) as caught:
        check_pipeline(loaded, tmp_path / "staging")
    return str(caught.value)


def test_a_server_that_closes_mid_body_is_retried_then_one_line(server: FakeApi, tmp_path: Path) -> None:
    body = json.dumps([{"id": i, "name": "x" * 40} for i in range(400)]).encode()  # 26 KB
    message = dry_run(server, tmp_path, Reply(body, cut_at=len(body) // 2))
    assert len(server.requests_to("/r")) == 3
    assert f"GET {server.url('/r')}: the connection broke mid-response (IncompleteRead(" in message
    assert "gave up after 3 attempts" in message and "\n" not in message
    record("API faults", "Content-Length 26 KB, half sent, socket shut", "retried, then one line naming the URL")


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_server_is_slow_not_could_not_connect(server: FakeApi, tmp_path: Path, where: str) -> None:
    slow = Reply([{"id": 1}], trickle_head=0.05) if where == "headers" else Reply([{"id": 1}] * 50, trickle=0.05)
    message = dry_run(server, tmp_path, slow, timeout=0.5)
    assert f"GET {server.url('/r')} took longer than 0.5 s in all" in message and "could not connect" not in message
    record("API faults", f"a server trickling its {where}", "one line: took longer than timeout_seconds in all")
