"""What a run tells the UI (`orchestration/reporting.py`): errors and lines without the config's values from the
environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError, LoadedConfig, load_config
from elt_dagster.engine.db import ConnectionLost, DatabaseError
from elt_dagster.engine.errors import PipelineError
from elt_dagster.orchestration.reporting import masked_errors
from elt_dagster_tests.conftest import write

HOST = "db-7c1e0a.internal"


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoadedConfig:
    monkeypatch.setenv("ELT_T_HOST", HOST)
    return load_config(
        write(tmp_path / "p.yaml", "sources:\n  - path: .\ntarget:\n  table: t\n  host: ${ELT_T_HOST}\n")
    )


@pytest.mark.parametrize(("raised", "expected"), [(DatabaseError, PipelineError), (ConnectionLost, ConnectionLost)])
def test_an_error_is_raised_again_masked_and_a_lost_connection_stays_one(
    loaded: LoadedConfig, raised: type[PipelineError], expected: type[PipelineError]
) -> None:
    with pytest.raises(PipelineError) as caught, masked_errors(lambda: loaded):
        raise raised(f"can't connect to PostgreSQL at host={HOST}")
    assert type(caught.value) is expected and str(caught.value) == "can't connect to PostgreSQL at host=***"


def test_an_error_without_a_secret_and_a_yaml_broken_since_pass_as_they_are(loaded: LoadedConfig) -> None:
    error = DatabaseError("refused")
    with pytest.raises(DatabaseError) as caught, masked_errors(lambda: loaded):
        raise error
    assert caught.value is error

    def broken() -> LoadedConfig:
        raise ConfigError(loaded.path, ["now broken"])

    with pytest.raises(DatabaseError) as caught, masked_errors(broken):
        raise DatabaseError(f"at {HOST}")
    assert str(caught.value) == f"at {HOST}"  # nothing to mask with: the step fails on the YAML's error next time


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    warning = info


class _Context:
    def __init__(self) -> None:
        self.log = _Log()


def test_read_is_valid_plus_quarantined_and_superseded_rows_are_not_duplicates(loaded: LoadedConfig) -> None:
    """Issue 24: the metadata and log lines count malformed rows as read, and superseded rows apart."""
    from elt_dagster.engine.load.quarantine import QuarantineSummary
    from elt_dagster.engine.run_report import RunReport
    from elt_dagster.engine.sources.files.extract import FileReport
    from elt_dagster.orchestration.reporting import (
        extract_metadata,
        log_report,
        quarantine_metadata,
        validate_metadata,
    )

    report = RunReport(run_id="r", files=[FileReport(path="a.csv", rows=5, malformed=1)], rows_valid=4, invalid=1)
    report.inserted, report.superseded = 1, 2
    extracted, validated = extract_metadata(report), validate_metadata(report)
    assert extracted["rows_read"] == validated["rows_read"] == 6
    assert validated["rows_read"] == validated["rows_valid"] + validated["rows_rejected"]
    assert (report.duplicates, report.superseded) == (1, 2)
    context = _Context()
    log_report(context, report)  # type: ignore[arg-type]
    assert "validated 6 rows read: 4 valid, 2 quarantined (1 malformed)" in context.log.lines
    assert any("skipped 1 duplicates and 2 superseded" in line for line in context.log.lines)
    summary = QuarantineSummary(total=60, by_reason=[("column 'amount': is not a decimal", 60, "1,063.00")])
    by_reason = quarantine_metadata(loaded, "postgresql://h/db", summary)["by_reason"].value
    assert "| column 'amount': is not a decimal | 60 | 1,063.00 |" in by_reason
