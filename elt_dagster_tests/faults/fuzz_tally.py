"""What the three fuzzers share: a real run and what it left in PostgreSQL, judging a case that raised (clear
error, raw traceback or hang), finding planted secrets, and running a corpus into a tally whose target (0 raw,
0 hang, 0 lost, 0 leaked) the test asserts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg

from elt_dagster.engine.config import load_config
from elt_dagster.engine.run import run_pipeline
from elt_dagster_tests.faults.fuzz_worker import CASE_SECONDS, Result
from elt_dagster_tests.faults.summary import Tally, record_tally

Case = TypeVar("Case")
RAW_DUMP = re.compile(r"""\bb(['"])[^'"]*\\n""")
"""A Python bytes repr holding line breaks: a parser's dump shown as it came (e.g. `b'lexical error: ...\\n (right
here) ------^\\n'`), not a line written for a person."""
Verdict = tuple[str, str]
"""(outcome, detail): one of summary.FUZZ_OUTCOMES, and for a case not ok what shows why."""


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def run_counts(config: str) -> dict[str, Any]:
    """In the child: one real run of the pipeline YAML at `config`; its counts, and what it says of its APIs."""
    report = run_pipeline(load_config(config))
    return {
        "read": report.rows_extracted + report.malformed,
        "valid": report.rows_valid,
        "rejected": report.rejected,
        "written": report.inserted + report.updated,
        "api_sources": report.api_sources,
    }


def table_state(database_url: str, db_schema: str, table: str, source: str = "") -> dict[str, Any]:
    """What a run left: the table's rows (those from `source` among them), the quarantined records, and the text of
    both (for the secrets sweep); then both tables are dropped, so the database stays small."""
    state: dict[str, Any] = {"rows": 0, "from_source": 0, "quarantined": 0, "text": ""}
    names = f'"{db_schema}"."{table}"', f'"{db_schema}"."{table}__rejected"'
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (names[0],)).fetchone()[0]:
            state["rows"], state["from_source"] = conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE _elt_source = %s) FROM {names[0]}", (source,)
            ).fetchone()
            state["quarantined"] = conn.execute(
                f"SELECT count(DISTINCT (source, coalesce(source_row, -id))) FROM {names[1]}"
            ).fetchone()[0]
            rows = conn.execute(f"SELECT t::text FROM {names[0]} t UNION ALL SELECT r::text FROM {names[1]} r")
            state["text"] = "\n".join(row[0] for row in rows)
        conn.execute(f"DROP TABLE IF EXISTS {names[0]}, {names[1]}")
    return state


def count_problems(run: dict[str, Any], tables: dict[str, Any]) -> list[str]:
    """How a successful run's counts fail to add up: read = valid + quarantined, and the tables hold what it wrote
    and quarantined ([] when they add up)."""
    problems = []
    if run["valid"] + run["rejected"] != run["read"]:
        problems.append(f"read {run['read']} != valid {run['valid']} + quarantined {run['rejected']}")
    if tables["rows"] != run["written"] or run["written"] > run["valid"]:
        problems.append(f"the table holds {tables['rows']} rows, the run wrote {run['written']} of {run['valid']}")
    if tables["quarantined"] != run["rejected"]:
        problems.append(f"the quarantine holds {tables['quarantined']} records of {run['rejected']} rejected")
    return problems


def error_verdict(result: Result, names: Iterable[str]) -> Verdict:
    """How a case that did not return ended: a hang, a raw traceback, or a clear error.

    Clear: one of the project's own errors (a PipelineError), on one line, without a stack trace, naming one of
    `names` (the file or URL). Anything else reaches the user as a traceback, or as a line they can't place.
    """
    if result.hang:
        return "hang", f"still running after {CASE_SECONDS:g} s (killed)"
    if result.crashed:
        return "raw", result.crashed
    detail = f"{result.error_type}: {first_line(result.message)}"
    text = result.message.strip()
    if not result.project_error:
        return "raw", detail
    if "\n" in text or "Traceback" in text:
        return "raw", f"(several lines) {detail}"
    if RAW_DUMP.search(text):
        return "raw", f"(a raw byte dump) {detail}"
    if not any(name in text for name in names):
        return "raw", f"(names neither the file nor the URL) {detail}"
    return "clear error", detail


def leaks(secrets: Sequence[str], *places: tuple[str, str | bytes]) -> list[str]:
    """`<place>: <secret>` for each planted secret found in a place's text."""
    found = []
    for place, text in places:
        for secret in secrets:
            if (secret.encode() if isinstance(text, bytes) else secret) in text:
                found.append(f"{place}: {secret}")
    return found


def run_corpus(
    fuzzer: str, cases: Iterable[Case], seed: Callable[[Case], str], judge: Callable[[Case], Verdict]
) -> Tally:
    """Judge every case into the fuzzer's tally, kept for the end-of-run summary and written to its report file."""
    tally = Tally(fuzzer)
    started = time.monotonic()
    for case in cases:
        began = time.monotonic()
        outcome, detail = judge(case)
        tally.add(seed(case), outcome, detail, time.monotonic() - began)
    tally.seconds = time.monotonic() - started
    record_tally(tally)
    return tally


def target_message(tally: Tally) -> str:
    """Why the target is missed: the tally, and the first cases that miss it (the rest are in the report file)."""
    missing = [f"  {outcome} {case}: {detail}" for outcome, case, detail in tally.details if outcome != "clear error"]
    return "\n".join([f"{tally.line()} (target: 0 raw, 0 hang, 0 lost, 0 leaked)", *missing[:15]])
