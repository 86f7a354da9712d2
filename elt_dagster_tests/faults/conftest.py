"""Fixtures of the fault suite: the local HTTP server of the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from elt_dagster_tests.faults.summary import OUTCOMES, TALLIES, summary_lines, tally_lines
from elt_dagster_tests.http_api import FakeApi, serving


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    """A FakeApi for one test (no proxy between the client and it)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with serving() as fake:
        yield fake


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault suite's table of cases and outcomes, and the fuzzers' tallies (quoted in docs/reliability.md)."""
    if OUTCOMES:
        terminalreporter.write_sep("=", "fault suite: cases and outcomes")
        for line in summary_lines():
            terminalreporter.write_line(line)
    if TALLIES:
        terminalreporter.write_sep("=", "fuzzers: ok / clear error / raw traceback / hang / rows lost / secrets leaked")
        for line in tally_lines():
            terminalreporter.write_line(line)
