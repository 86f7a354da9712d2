"""API faults from a real local server: each ends in rows or one clear error, within bounded time and memory.

Every case runs the pipeline's extraction (a dry run: the run's code path without the database) against a
FakeApi route, timed and with Python's allocations traced.
"""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from elt_dagster.engine.config import load_config
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.errors import PipelineError
from elt_dagster_tests.conftest import write
from elt_dagster_tests.faults.summary import record
from elt_dagster_tests.http_api import FakeApi, Reply, Seen

pytestmark = pytest.mark.faults

SECONDS = 20
"""No case may take longer (the slowest, a trickle and a 429, wait about 1-2 s)."""
PEAK_MB = 400
"""No case may allocate more at once (the response cap is 256 MB)."""


@dataclass
class Case:
    name: str
    setup: Callable[[FakeApi], dict[str, Any]]
    """Routes the server; returns the source's YAML options (url included)."""
    rows: int | None = None
    """The rows the dry run must read; None when the case must end in an error matching `error`."""
    error: str = ""


def records(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"n{i}"} for i in range(start, start + count)]


def sequence(*replies: Reply) -> Callable[[Seen], Reply]:
    """Answer with `replies` in turn, then repeat the last one."""
    sent: list[Reply] = []

    def answer(_: Seen) -> Reply:
        sent.append(replies[min(len(sent), len(replies) - 1)])
        return sent[-1]

    return answer


def too_many_requests(api: FakeApi) -> dict[str, Any]:
    slow_down = Reply({"error": "slow down"}, status=429, headers={"Retry-After": "1"})
    return {"url": api.route("/r", sequence(slow_down, Reply(records(3))))}


def server_error_then_ok(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", sequence(Reply({"error": "oops"}, status=500), Reply(records(3))))}


def always_500(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply({"error": "down"}, status=500))}


def trickle(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply(records(50), trickle=0.01)), "timeout_seconds": 1}


def truncated(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply(json.dumps(records(5)).encode()[:-7]))}


def not_json(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply(b"<html>maintenance</html>", headers={"Content-Type": "text/html"}))}


def redirect_loop(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply(b"", status=302, headers={"Location": api.url("/r")}))}


def cycling_next_links(api: FakeApi) -> dict[str, Any]:
    api.route("/b", lambda s: Reply({"data": records(2, 10), "next": api.url("/a")}))
    url = api.route("/a", lambda s: Reply({"data": records(2), "next": api.url("/b")}))
    return {"url": url, "records_path": "data", "paginate": {"type": "next_url", "next_url_path": "next"}}


def cycling_cursors(api: FakeApi) -> dict[str, Any]:
    def page(seen: Seen) -> Reply:
        at = seen.params.get("cursor", "A")
        return Reply({"data": records(2, 0 if at == "A" else 10), "next": "B" if at == "A" else "A"})

    return {"url": api.route("/r", page), "records_path": "data", "paginate": {"type": "cursor", "cursor_path": "next"}}


def ignored_page_number(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply(records(3))), "paginate": {"type": "page_number"}}


def huge_page(api: FakeApi) -> dict[str, Any]:
    body = json.dumps([{"id": i, "text": "x" * 100_000} for i in range(300)] + records(20_000)).encode()  # 31 MB
    return {"url": api.route("/r", lambda s: Reply(body))}


def gzip_bomb(api: FakeApi) -> dict[str, Any]:
    bomb = gzip.compress(b"[" + b" " * (600 << 20) + b"]", compresslevel=9)  # 600 MB of spaces in about 600 KB
    return {"url": api.route("/r", lambda s: Reply(bomb, headers={"Content-Encoding": "gzip"}))}


def deeply_nested(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply(b'[{"id": 1, "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]"))}


def empty_list(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply([]))}


def no_content(api: FakeApi) -> dict[str, Any]:
    return {"url": api.route("/r", lambda s: Reply(b"", status=204))}


CASES = [
    Case("429 with Retry-After, then 200", too_many_requests, rows=3),
    Case("500, then 200", server_error_then_ok, rows=3),
    Case("500 every time", always_500, error=r"HTTP 500.*gave up after 3 attempts"),
    Case("a response trickling a byte at a time", trickle, error=r"took longer than 1 s in all"),
    Case("a truncated JSON body", truncated, error=r"did not return JSON"),
    Case("an HTML body", not_json, error=r"did not return JSON \(HTTP 200, text/html\): <html>maintenance"),
    Case("a redirect loop", redirect_loop, error=r"redirect"),
    Case("next links cycling A -> B -> A", cycling_next_links, rows=4),
    Case("cursors cycling A -> B -> A", cycling_cursors, rows=4),
    Case("a page number the server ignores", ignored_page_number, rows=3),
    Case("a 31 MB page", huge_page, rows=20_300),
    Case("a gzip bomb (600 MB of spaces)", gzip_bomb, error=r"larger than 256 MB \(decompressed\)"),
    Case("a record nested 100,000 deep", deeply_nested, error=r"nests arrays or objects too deeply to read"),
    Case("an empty list", empty_list, rows=0),
    Case("204 No Content", no_content, rows=0),
]


def run_case(tmp_path: Path, options: dict[str, Any]) -> int:
    """The dry run's rows (quarantined ones included) for an API source with `options`."""
    body = {"sources": [{"type": "api", **options}], "target": {"table": "t"}}
    config = load_config(write(tmp_path / "api.yaml", yaml.safe_dump(body)))
    report = check_pipeline(config, tmp_path / "staging", keep_rows=0)
    assert report.rows_extracted + report.malformed == report.rows_valid + report.rejected
    return report.rows_valid + report.rejected


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_an_api_fault_ends_in_rows_or_one_clear_error_in_bounded_time_and_memory(
    tmp_path: Path, server: FakeApi, case: Case
) -> None:
    options = case.setup(server)
    started = time.monotonic()
    tracemalloc.start()
    try:
        outcome: int | str = run_case(tmp_path, options)
    except PipelineError as exc:
        outcome = str(exc)
    finally:
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    seconds = time.monotonic() - started
    assert seconds < SECONDS and peak_mb < PEAK_MB, (seconds, peak_mb)
    if case.rows is not None:
        assert outcome == case.rows
        record("API faults", case.name, "rows loaded")
    else:
        assert isinstance(outcome, str) and "\n" not in outcome.strip(), outcome
        assert server.base in outcome or "127.0.0.1" in outcome, outcome  # names the URL
        assert __import__("re").search(case.error, outcome), outcome
        record("API faults", case.name, "one-line error naming the URL")
