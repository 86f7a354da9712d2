"""Loading a file: its content hash, its path, and the checks that touch the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError, load_config, parse_config
from elt_dagster_tests.engine.config.yaml_files import SOURCES, config_error, config_file, load


def test_content_hash_follows_the_text(tmp_path: Path) -> None:
    text = SOURCES + "target:\n  table: t\n"
    first = load(tmp_path, text, name="a")
    same = load(tmp_path, text, name="b")
    other = load(tmp_path, text + "  mode: append\n", name="c")
    assert len(first.content_hash) == 64
    assert first.content_hash == same.content_hash
    assert first.content_hash != other.content_hash
    assert first.text == text


def test_parse_config_uses_the_given_path(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    loaded = parse_config(SOURCES + "target:\n  table: t\n", tmp_path / "from_text.yaml")
    assert loaded.name == "from_text"
    assert loaded.config.sources[0].resolved_path(loaded.base_dir) == tmp_path / "data"


def test_missing_source_folder_names_the_path(tmp_path: Path) -> None:
    message, path = config_error(
        tmp_path,
        """\
sources:
  - type: local
    path: data
  - type: local
    path: not_there
target:
  table: t
""",
    )
    assert message == f"{path}: sources[1].path (line 5): {(tmp_path / 'not_there').resolve()} does not exist"


def test_missing_first_source_folder(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, "sources:\n  - type: local\n    path: nowhere\ntarget:\n  table: t\n")
    assert "sources[0].path (line 3)" in message and "does not exist" in message


def test_a_missing_source_folder_from_the_environment_is_named_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELT_T_TOKEN", "tok-6d1c0e-in-path")
    monkeypatch.setenv("ELT_T_REGION", "eu-west-9")
    text = "public_env: [ELT_T_REGION]\nsources:\n  - path: data/${ELT_T_REGION}/${ELT_T_TOKEN}\ntarget:\n  table: t\n"
    message, path = config_error(tmp_path, text)
    assert message == f"{path}: sources[0].path (line 3): {tmp_path.resolve()}/data/eu-west-9/*** does not exist"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  mode: upsert\n", "target.mode (line 6): Input should be 'append', 'merge' or 'scd2'"),
        ("  port: abc\n", "target.port (line 6):"),
        ("  table2: x\n", "target.table2 (line 6): unknown key"),
        ("  url: postgresql://h/db\n  host: h\n", "target (line 4): give either url or host"),
        ("schema:\n  strict_mode: maybe\n", "schema.strict_mode (line 7):"),
        ("schema:\n  columns: [id, name]\n", "schema.columns (line 7):"),
    ],
)
def test_wrong_values_name_key_path_and_line(tmp_path: Path, extra: str, expected: str) -> None:
    message, _ = config_error(tmp_path, SOURCES + "target:\n  table: t\n" + extra)
    assert expected in message


def test_wrong_source_value_names_key_path_and_line(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path, "sources:\n  - type: local\n    path: data\n    delimiter: ';;'\ntarget:\n  table: t\n"
    )
    assert "sources[0].delimiter (line 4): String should have at most 1 character" in message


def test_table_name_too_long_for_quarantine_table(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, SOURCES + "target:\n  table: " + "x" * 60 + "\n")
    assert "target.table (line 5)" in message and "too long" in message and "__rejected" in message


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    path = config_file(tmp_path, SOURCES + "target:\n  table: t\n  mode: upsert\nschema:\n  columns:\n    id: nope\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 2
    assert any(p.startswith("target.mode (line 6)") for p in caught.value.problems)
    assert any(p.startswith("schema.columns (line 8)") for p in caught.value.problems)
    assert "; " in str(caught.value)


def test_an_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError, match=r"sources\[0\]\.encoding.*unknown encoding 'utf-9'"):
        load(tmp_path, "sources:\n  - type: local\n    path: data\n    encoding: utf-9\ntarget:\n  table: t\n")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("sources: []\n".encode("utf-16"), "the file is UTF-16"),
        (b"# caf\xe9\nsources: []\n", "line 1: the file is not UTF-8 text (byte 0xe9)"),
        (("a:\n" + "".join("  " * i + "- \n" for i in range(1, 3)) + "[" * 10_000).encode(), "YAML"),
        (b"[" * 10_000 + b"]" * 10_000, "nest"),  # libyaml: "nesting depth"; PyYAML's own: "nested too deeply"
        (b"sources:\n  - path: data\ntarget:\n  table: a\n  table: b\n", "target.table (line 5): written twice"),
    ],
)
def test_a_file_that_is_not_a_usable_yaml_is_a_config_error(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "data").mkdir()
    path = tmp_path / "p.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)
