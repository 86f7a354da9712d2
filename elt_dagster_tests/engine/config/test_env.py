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
public_env: [ELT_T_TABLE, ELT_T_SCHEMA]
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


# --- values from the environment are secrets, unless public_env lists them ------------------------------------


def test_values_from_the_environment_are_secrets_unless_declared_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_T_TABLE", "table-from-env")
    monkeypatch.setenv("ELT_T_REGION", "eu-west-9")
    monkeypatch.setenv("ELT_T_PASSWORD", "pw-e7d1-from-env")
    monkeypatch.delenv("ELT_T_SCHEMA", raising=False)
    loaded = load(
        tmp_path,
        SOURCES
        + """\
public_env: [ELT_T_REGION, ELT_T_SCHEMA]
target:
  table: t
  user: ${ELT_T_TABLE}
  db_schema: ${ELT_T_SCHEMA:-raw}
  host: db.${ELT_T_REGION}.example.com
  password: ${ELT_T_PASSWORD}
""",
    )
    assert loaded.config.target.host == "db.eu-west-9.example.com"
    assert loaded.env_secrets == {"table-from-env", "pw-e7d1-from-env"}  # not the public one, nor a default


@pytest.mark.parametrize("value", ["ELT_T_REGION", "[ELT_T_REGION]", "null"])
def test_public_env_is_a_list_of_names_or_one_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ELT_T_REGION", "eu-west-9")
    loaded = load(tmp_path, SOURCES + f"public_env: {value}\ntarget:\n  table: t\n  host: h_${{ELT_T_REGION}}\n")
    assert loaded.env_secrets == (set() if value != "null" else {"eu-west-9"})


@pytest.mark.parametrize("value", ['["${ELT_T_REGION}"]', "{a: 1}", "[1]"])
def test_public_env_that_is_not_names_is_a_config_error(tmp_path: Path, value: str) -> None:
    message, _ = config_error(tmp_path, SOURCES + f"public_env: {value}\ntarget:\n  table: t\n")
    assert "public_env (line 4): must be a list of environment variable names" in message


def test_a_config_error_does_not_show_a_value_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_T_URL", "ftp://api.example.com/v1/tok-3c9e1f-secret/items")
    message, _ = config_error(tmp_path, "sources:\n  - type: api\n    url: ${ELT_T_URL}\ntarget:\n  table: t\n")
    assert "is not an http:// or https:// URL" in message
    assert "tok-3c9e1f-secret" not in message


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("name: p_${ELT_T_NAME}\n", "name (line 4)"),
        ("target:\n  table: t_${ELT_T_NAME:-x}\n", "target.table (line 5)"),
        ("target:\n  table: t\n  db_schema: ${ELT_T_NAME}\n", "target.db_schema (line 6)"),
        ("target:\n  table: t\n  database: ${ELT_T_NAME}\n", "target.database (line 6)"),
    ],
)
def test_a_variable_in_a_name_must_be_declared_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, line: str
) -> None:
    monkeypatch.setenv("ELT_T_NAME", "nm_4b2e_env")
    body = key if key.startswith("target") else key + "target:\n  table: t\n"
    message, _ = config_error(tmp_path, SOURCES + body)
    assert f"{line}: takes ${{ELT_T_NAME}} from the environment" in message
    assert "list ELT_T_NAME in public_env" in message and "nm_4b2e_env" not in message
    loaded = load(tmp_path, SOURCES + "public_env: [ELT_T_NAME]\n" + body)  # declared public: shown as it is
    target = loaded.config.target
    assert "nm_4b2e_env" in f"{loaded.name} {target.table} {target.db_schema} {target.database}"
    assert loaded.env_secrets == set()
