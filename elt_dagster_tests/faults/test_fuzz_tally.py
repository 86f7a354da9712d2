"""The fuzzers' harness: how a case is judged, the child process that bounds it, and the tally it ends in."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from elt_dagster.engine.errors import PipelineError
from elt_dagster_tests.faults import summary
from elt_dagster_tests.faults.fuzz_tally import count_problems, error_verdict, leaks
from elt_dagster_tests.faults.fuzz_worker import Result, Worker

pytestmark = pytest.mark.faults


def refuse(path: str) -> None:
    raise PipelineError(f"{path}: not a readable CSV file")


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (Result(error_type="x.PipelineError", message="/d/a.csv: bad header", project_error=True), "clear error"),
        (Result(error_type="builtins.TypeError", message="/d/a.csv: unsupported operand"), "raw"),
        (
            Result(error_type="x.PipelineError", message="/d/a.csv: bad\nTraceback (most recent", project_error=True),
            "raw",
        ),
        (Result(error_type="x.PipelineError", message="PostgreSQL refused the load", project_error=True), "raw"),
        (
            Result(
                error_type="x.E", message="/d/a.csv: invalid JSON (b'parse error\\n (right here)')", project_error=True
            ),
            "raw",
        ),
        (Result(hang=True), "hang"),
        (Result(crashed="the process died (exit code -9)"), "raw"),
    ],
    ids=["clear", "not our error", "a stack trace", "names no file", "a byte dump", "hang", "crash"],
)
def test_a_case_that_raised_is_judged_by_its_class_lines_and_the_file_it_names(result: Result, outcome: str) -> None:
    assert error_verdict(result, ["/d/a.csv"])[0] == outcome


def test_counts_that_do_not_add_up_are_rows_lost() -> None:
    run = {"read": 5, "valid": 4, "rejected": 1, "written": 4}
    assert count_problems(run, {"rows": 4, "quarantined": 1}) == []
    assert count_problems(run, {"rows": 3, "quarantined": 1}) == ["the table holds 3 rows, the run wrote 4 of 4"]
    assert count_problems({**run, "valid": 3}, {"rows": 4, "quarantined": 1})[0] == "read 5 != valid 3 + quarantined 1"


def test_a_planted_secret_is_found_in_text_and_bytes() -> None:
    assert leaks(["s3cr3t"], ("error", "no"), ("staging", b"x s3cr3t y")) == ["staging: s3cr3t"]


def test_the_worker_reports_returns_errors_hangs_and_crashes_and_carries_on() -> None:
    with Worker() as worker:
        assert worker.call(abs, -3).value == 3
        refused = worker.call(refuse, "/d/a.csv")
        assert refused.project_error and refused.error_type.endswith("PipelineError") and "/d/a.csv" in refused.message
        assert worker.call(time.sleep, 600, seconds=1).hang  # the sleeping child is killed, not waited for
        assert worker.call(os._exit, 3).crashed == "the process died (exit code 3)"
        assert worker.call(abs, -4).value == 4  # a fresh child after each


def test_a_tally_prints_its_six_outcomes_and_writes_what_was_not_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary, "REPORT_FOLDER", tmp_path)
    tally = summary.Tally("demo")
    tally.add("a", "ok")
    tally.add("b", "raw", "builtins.TypeError: x")
    tally.add("c", "clear error", "ExtractError: /d/c.csv: empty")
    assert tally.line() == "fuzz demo (3): 1 ok, 1 clear error, 1 raw, 0 hang, 0 lost, 0 leaked (0 s)"
    assert tally.missed() == {"raw": 1}
    lines = tally.write_report().read_text().splitlines()
    assert lines[2:] == ["raw\tb\tbuiltins.TypeError: x", "clear error\tc\tExtractError: /d/c.csv: empty"]
