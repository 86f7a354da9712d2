"""YAML and structure errors: every message names the file, the key path and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError, load_config
from elt_dagster_tests.engine.config.yaml_files import SOURCES, config_error, load

# --- YAML and structure errors -----------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    message, path = config_error(
        tmp_path,
        """\
sources:
  - type: local
   path: data
target:
  table: t
""",
    )
    assert str(path) in message
    assert "YAML syntax error" in message
    assert "line 3" in message


def test_unclosed_bracket_names_the_line(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, SOURCES + "target:\n  table: t\n  primary_key: [id\n")
    assert "YAML syntax error at line 7" in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "", "just a string\n"])
def test_file_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    message, _ = config_error(tmp_path, text)
    assert "must be a mapping" in message


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="can't read the file") as caught:
        load_config(missing)
    assert str(missing) in str(caught.value)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message, path = config_error(
        tmp_path,
        SOURCES
        + """\
target:
  table: t
targte:
  table: x
""",
    )
    assert message.startswith(f"{path}: targte (line ")
    assert message.endswith("): unknown key (check the spelling; see elt-dagster's docs/yaml-reference.md)")


def test_unknown_key_with_mapping_value_points_at_the_key(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, SOURCES + "target:\n  table: t\ntargte:\n  table: x\n")
    assert "targte (line 6)" in message


def test_unknown_nested_key_names_its_path(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path,
        SOURCES
        + """\
target:
  tabel: orders
""",
    )
    assert "target.tabel (line 5): unknown key" in message
    assert "target.table (line 4): required key is missing" in message


def test_unknown_source_key_names_the_index(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path,
        """\
sources:
  - type: local
    path: data
  - type: local
    path: data
    patern: "*.csv"
target:
  table: t
""",
    )
    assert "sources[1].patern (line 6): unknown key" in message


def test_missing_required_sections(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, "target:\n  table: t\n")
    assert "sources" in message and "required key is missing" in message


def test_unknown_source_type(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, "sources:\n  - type: ftp\n    path: data\ntarget:\n  table: t\n")
    assert "sources[0] (line 2): unknown type 'ftp' (known: 'local', 'api', 's3', 'azure', 'gcs')" in message


def test_source_type_can_be_left_out(tmp_path: Path) -> None:
    loaded = load(tmp_path, "sources:\n  - path: data\ntarget:\n  table: t\n")
    assert loaded.config.sources[0].type == "local"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources:\n  - type: api\n    method: GET\ntarget:\n  table: t\n", "sources[0].url (line 2): required key"),
        ("sources:\n  - pattern: '*'\ntarget:\n  table: t\n", "sources[0].path (line 2): required key"),
        (
            "sources:\n  - type: api\n    url: https://h/x\n    auth:\n      type: bearer\ntarget:\n  table: t\n",
            "sources[0].auth.token (line 4): required key",
        ),
    ],
)
def test_a_missing_key_inside_a_typed_mapping_is_named(tmp_path: Path, text: str, expected: str) -> None:
    message, _ = config_error(tmp_path, text)
    assert expected in message


def test_an_unquoted_impossible_date_names_its_line(tmp_path: Path) -> None:
    """YAML reads an unquoted 2024-02-30 as a date and can't build it: one config error, not a bare ValueError."""
    message, _ = config_error(tmp_path, SOURCES + "target:\n  table: t\nstart_time: 2024-02-30\n")
    assert "line 6, column 13: '2024-02-30' is not a real date" in message and "quotes" in message
