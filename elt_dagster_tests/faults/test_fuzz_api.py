"""Fuzzed API faults from real local servers, each loaded into PostgreSQL by a real run, with secrets planted.

Seeded cases: a paging API (none, page numbers, offsets, cursors, next URLs, Link headers) whose n-th reply is
replaced, once or from then on, by a fault: bad JSON, a truncated body, a wrong content type or encoding, a 4xx/5xx
(some echoing the request), a huge page, a redirect (same origin, another origin, nowhere), a next page elsewhere,
a slow reply; or, from a raw TCP server, a connection closed mid-body or before a byte, a reset, a garbage status
line, a stall. The source carries a bearer token from `${ELT_FUZZ_API_TOKEN}` and a second `${VAR}` in the URL path,
a query parameter, a header or a POST body. A case is: ok (rows, counts adding up; all six records when the fault
heals), a clear error (one line naming the URL), a raw traceback, a hang, rows lost, or leaked (a planted value in
the error, the log, the rows or quarantine, the staging files, the run's API summary, or a request to another origin).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from elt_dagster_tests.faults.fuzz_api_server import RESET, RawServer, Step, echo, faulty, page, raw_response
from elt_dagster_tests.faults.fuzz_tally import (
    Verdict,
    count_problems,
    error_verdict,
    leaks,
    run_corpus,
    run_counts,
    table_state,
    target_message,
)
from elt_dagster_tests.faults.fuzz_worker import Worker
from elt_dagster_tests.http_api import FakeApi, Reply, Seen, serving

pytestmark = pytest.mark.faults

TOKEN, PLACED = "api-tok-3c2b1a-planted", "api-var-9f8e7d-planted"
SECRETS = {"ELT_FUZZ_API_TOKEN": TOKEN, "ELT_FUZZ_API_PLACED": PLACED}
PAGINATE = {
    "none": "none",
    "page_number": {"type": "page_number"},
    "offset": {"type": "offset", "limit": 2},
    "cursor": {"type": "cursor", "cursor_path": "next"},
    "next_url": {"type": "next_url", "next_url_path": "next"},
    "link_header": "link_header",
}
BAD_BODIES = [
    b"",
    b"{",
    b'{"data": [{"id": 1}',
    b"<html>down</html>",
    '{"data": []}'.encode("utf-16"),
    b"NaN",
    b'{"data": NaN}',
    b'{"data": [{"id": 1e400}]}',
    b'{"data": 5}',
    b'{"data": [1, 2, 3]}',
    b'{"data": ["a", null]}',
    b"null",
    b'"a string"',
    b'{"data": [{}]}',
    b'{"data": ' + b"[" * 100_000,
    b"\x00" * 10,
    b'{"data": [{"id": "\\ud800"}]}',
    b'{"data": [{"\\u0000": 1, "id": 2}]}',
    b'\xef\xbb\xbf{"data": []}',
    b'{"data": {"id": 1}}',
    b'{"data": [[1, 2]]}',
    b'{"data": [{"id": ' + b"9" * 100_000 + b"}]}",
    b'{"data": [{"id": 1, "name": "\xff\xfe"}]}',
]
STATUSES = [400, 401, 403, 404, 405, 408, 410, 418, 422, 429, 500, 502, 503, 504]
TRANSIENT = (429, 500, 502, 503, 504)
"""The statuses retried: sent once, the run must end with every record."""
CONTENT_TYPES = [
    "text/html",
    "text/plain",
    "application/xml",
    "",
    "application/octet-stream",
    "application/json; charset=utf-16",
]


@dataclass
class Setup:
    """What a fault needs: the case's servers, its seeded generator, and the path and paging of its route."""

    api: FakeApi
    other: FakeApi
    raw: RawServer
    generator: random.Random
    path: str
    paginate: str

    def good(self, seen: Seen) -> Reply:
        return page(self.paginate, seen, self.api.url(self.path))


def http_fault(setup: Setup, kind: str) -> tuple[Callable[[Seen], Reply], bool]:
    """A fault the HTTP server plays, and whether it heals (a transient failure sent once)."""
    choose = setup.generator.choice
    if kind == "bad_json":
        body = choose(BAD_BODIES)
        return lambda seen: Reply(body), False
    if kind == "truncated":
        return lambda seen: Reply(json.dumps(setup.good(seen).body).encode()[:20]), False
    if kind == "content_type":
        kind_header = {"Content-Type": choose(CONTENT_TYPES)}
        return lambda seen: Reply(setup.good(seen).body, headers=kind_header), False
    if kind == "encoding":
        coding = {"Content-Encoding": choose(["gzip", "deflate", "br", "x-unknown"])}
        encoded = choose([b"\x1f\x8b\x08garbage", b'{"data": []}'])
        return lambda seen: Reply(encoded, headers=coding), False
    if kind == "status":
        status, once = choose(STATUSES), setup.generator.random() < 0.5
        after = {"Retry-After": choose(["0", "1", "-1", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"])}
        heals = once and status in TRANSIENT
        return lambda seen: Reply({"error": echo(seen)}, status=status, headers=after), heals
    if kind == "huge_page":  # 20,000 records, 30 of 100 KB, or one of 5 MB
        count, size = choose([(20_000, 10), (30, 100_000), (1, 5_000_000)])
        records = [{"id": i, "name": "x" * size} for i in range(count)]
        return lambda seen: Reply({"data": records}), False
    if kind == "redirect":
        where = choose(
            [setup.api.url(setup.path), setup.other.url("/elsewhere"), "/relative", "http://127.0.0.1:1/x", ""]
        )
        status = choose([301, 302, 303, 307, 308])
        return lambda seen: Reply(b"", status=status, headers={"Location": where} if where else {}), False
    if kind == "next_elsewhere":
        where = choose(
            [setup.other.url("/next"), "http://[::1", "javascript:alert(1)", "//elsewhere/x", {"a": 1}, 10**30]
        )
        return lambda seen: Reply(
            {"data": [{"id": 99}], "next": where}, headers={"Link": f'<{where}>; rel="next"'}
        ), False
    delay, trickle = (1.0, 0.0) if setup.generator.random() < 0.5 else (0.0, 0.05)
    return lambda seen: Reply({"data": [{"id": 1}], "pad": "x" * 60}, delay=delay, trickle=trickle), False


def raw_scripts(setup: Setup, kind: str) -> list[list[Step]]:
    """The scripts of the raw server's route: the fault, then (if it heals) the whole good reply."""
    whole = {**page("none", Seen("GET", "/", {}, {}, b""), "").body, "pad": "x" * 26_000}  # 26 KB, as the issue's
    good = raw_response(json.dumps(whole).encode())
    fault: list[Step] = {
        "close_mid_body": [good[: len(good) // 2]],
        "close_at_once": [],
        "reset": [RESET],
        "garbage_status": [b"HELLO WORLD\r\n\r\n"],
        "bad_chunked": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"],
        "stall": [1.5],
        "long_header": [b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"],
    }[kind]
    return [fault, [good]] if setup.generator.random() < 0.5 else [fault]


HTTP_FAULTS = [
    "bad_json",
    "truncated",
    "content_type",
    "encoding",
    "status",
    "huge_page",
    "redirect",
    "next_elsewhere",
    "slow",
]
RAW_FAULTS = ["close_mid_body", "close_at_once", "reset", "garbage_status", "bad_chunked", "stall", "long_header"]


WEIGHTS = {"none": 1, "bad_json": 3, "truncated": 2, "content_type": 2, "encoding": 1, "status": 3, "huge_page": 1}
WEIGHTS |= {"redirect": 2, "next_elsewhere": 2, "slow": 0.5} | dict.fromkeys(RAW_FAULTS, 1) | {"stall": 0.5}
"""How often each fault is drawn (the slow ones, a few seconds each, less often)."""
SLOW_FAULTS = ("slow", "stall")


@dataclass(frozen=True)
class ApiCase:
    """One seeded case: its fault, the source's paging, where the second secret goes, and a typed schema or none."""

    seed: str
    number: int
    fault: str
    paginate: str
    placed: str
    typed: bool

    @classmethod
    def drawn(cls, number: int) -> ApiCase:
        generator = random.Random(f"api-{number}")
        fault = generator.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        paginate = "none" if fault in RAW_FAULTS else generator.choice(list(PAGINATE))
        placed = generator.choice(["path", "query", "header", "body"])
        return cls(f"api-{number}", number, fault, paginate, placed, generator.random() < 0.5)

    @property
    def label(self) -> str:
        return f"{self.seed} {self.fault} (paging {self.paginate}, secret in {self.placed})"


def source_yaml(url: str, case: ApiCase) -> dict[str, Any]:
    """The API source: a bearer token from the environment, and the second variable where the case puts it."""
    url = url.replace(PLACED, "${ELT_FUZZ_API_PLACED}")  # in the URL path: the server has the value, the YAML the name
    seconds = 0.5 if case.fault in SLOW_FAULTS else 1  # the slow faults' cost, retries included, is ~5x this
    source: dict[str, Any] = {"type": "api", "url": url, "records_path": "data", "timeout_seconds": seconds}
    source |= {"auth": {"type": "bearer", "token": "${ELT_FUZZ_API_TOKEN}"}, "paginate": PAGINATE[case.paginate]}
    placed = case.placed
    if placed == "query":
        source["params"] = {"filter": "${ELT_FUZZ_API_PLACED}"}
    elif placed == "header":
        source["headers"] = {"X-Tenant": "${ELT_FUZZ_API_PLACED}"}
    elif placed == "body":
        source |= {"method": "POST", "json": {"query": "${ELT_FUZZ_API_PLACED}"}}
    return source


def prepare(setup: Setup, case: ApiCase, folder: Path, db_schema: str) -> tuple[Path, bool]:
    """Route the case's fault and write its pipeline YAML; returns it, and whether all six records must arrive."""
    fault = case.fault
    at = setup.generator.randint(1, 1 if case.paginate == "none" else 3)
    if fault in RAW_FAULTS:
        scripts = raw_scripts(setup, fault)
        url, heals = setup.raw.route(setup.path, *scripts), len(scripts) > 1
    elif fault == "none":
        url, heals = setup.api.route(setup.path, setup.good), True
    else:
        answer, heals = http_fault(setup, fault)
        url = setup.api.route(setup.path, faulty(setup.good, answer, at, once=heals))
    body: dict[str, Any] = {"name": f"fa{case.number}", "sources": [source_yaml(url, case)]}
    body["target"] = {"table": f"t{case.number}", "db_schema": db_schema}
    if case.typed:
        body["schema"] = {"columns": {"id": "integer", "amount": "decimal", "updated": "timestamptz", "name": "string"}}
    folder.mkdir(parents=True)
    (folder / "p.yaml").write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return folder / "p.yaml", heals and fault in ("none", "status", *RAW_FAULTS)


CASES = [ApiCase.drawn(number) for number in range(160)]


def test_fuzzed_api_faults_load_rows_or_end_in_one_clear_error_and_leak_no_secret(
    tmp_path: Path, database_url: str, db_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**SECRETS, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}.items():
        monkeypatch.setenv(name, value)

    def judge(case: ApiCase) -> Verdict:
        path = f"/c{case.number}/v1/{PLACED}/items" if case.placed == "path" else f"/c{case.number}/items"
        setup = Setup(api, other, raw, random.Random(f"{case.seed}-server"), path, case.paginate)
        config, complete = prepare(setup, case, tmp_path / f"case{case.number}", db_schema)
        other.seen.clear()
        result = worker.call(run_counts, str(config))
        tables = table_state(database_url, db_schema, f"t{case.number}")
        run_folder = tmp_path / "state" / "runs" / f"fa{case.number}"
        staged = b"".join(path.read_bytes() for path in run_folder.rglob("*") if path.is_file())
        found = leaks(
            list(SECRETS.values()),
            ("error", result.message),
            ("log", result.logs),
            ("rows", tables["text"]),
            ("staging", staged),
            ("API summary", str(result.value and result.value["api_sources"])),
            ("another origin", "".join(echo(seen) for seen in other.seen)),
        )
        if found:
            return "leaked", "; ".join(found)
        if result.raised or result.hang or result.crashed:
            return error_verdict(result, [api.base, raw.base, other.base])
        problems = count_problems(result.value, tables)
        if complete and result.value["read"] != 6:
            problems.append(f"read {result.value['read']} of the 6 records served")
        return ("lost", "; ".join(problems)) if problems else ("ok", "")

    raw = RawServer()
    try:
        with serving() as api, serving() as other, Worker() as worker:
            tally = run_corpus("api", CASES, lambda case: case.label, judge)
    finally:
        raw.close()
    assert tally.counts["ok"] >= 10, tally.line()
    missed = tally.missed()
    assert not missed, target_message(tally)
