"""`${VAR}` substitution: values, defaults, and errors that name the key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster_tests.engine.config.yaml_files import SOURCES, config_error, load

# --- ${VAR} substitution -----------------------------------------------------------------------------


def test_env_variables_are_substituted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELT_T_DATA", "data")
    monkeypatch.setenv("ELT_T_TABLE", "from_env")
    monkeypatch.setenv("ELT_T_EMPTY", "")
    monkeypatch.setenv("ELT_T_PASSWORD", "p#ss: w{rd} ${NOT_A_VAR}")
    monkeypatch.delenv("ELT_T_SCHEMA", raising=False)
    monkeypatch.delenv("ELT_T_HOST", raising=False)
    loaded = load(
        tmp_path,
        """\
sources:
  - type: local
    path: ${ELT_T_DATA}
target:
  table: ${ELT_T_TABLE:-ignored}
  db_schema: ${ELT_T_SCHEMA:-raw}
  host: db-${ELT_T_HOST:-local}.example.com
  user: ${ELT_T_EMPTY:-fallback_user}
  database: ${ELT_T_SCHEMA:-}x
  password: ${ELT_T_PASSWORD}
""",
    )
    target = loaded.config.target
    assert loaded.config.sources[0].path == "data"
    assert target.table == "from_env"  # set: the default is ignored
    assert target.db_schema == "raw"  # unset: the default
    assert target.host == "db-local.example.com"  # inside a longer value
    assert target.user == "fallback_user"  # set but empty: the default, like the shell
    assert target.database == "x"  # an empty default
    assert target.password == "p#ss: w{rd} ${NOT_A_VAR}"  # substituted after YAML parsing, not re-expanded
    assert "${ELT_T_TABLE" in loaded.text  # the stored text is the file as written


def test_env_variable_value_is_coerced_like_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELT_T_PORT", "6543")
    monkeypatch.setenv("ELT_T_STRICT", "true")
    loaded = load(
        tmp_path,
        SOURCES
        + """\
target:
  table: t
  port: ${ELT_T_PORT}
schema:
  strict_mode: ${ELT_T_STRICT}
""",
    )
    assert loaded.config.target.port == 6543
    assert loaded.config.schema_ is not None and loaded.config.schema_.strict_mode is True


def test_unset_env_variable_without_default_names_key_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELT_T_MISSING_PASSWORD", raising=False)
    message, path = config_error(
        tmp_path,
        SOURCES
        + """\
target:
  table: t
  password: ${ELT_T_MISSING_PASSWORD}
""",
    )
    assert message == f"{path}: target.password (line 6): environment variable ELT_T_MISSING_PASSWORD is not set"


def test_unset_env_variable_in_a_list_names_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELT_T_SRC", raising=False)
    message, _ = config_error(
        tmp_path,
        """\
sources:
  - type: local
    path: data
  - type: local
    path: ${ELT_T_SRC}/more
target:
  table: t
""",
    )
    assert "sources[1].path (line 5): environment variable ELT_T_SRC is not set" in message
