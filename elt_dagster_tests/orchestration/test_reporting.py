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
