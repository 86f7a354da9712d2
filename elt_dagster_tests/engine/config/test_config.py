"""Pipeline YAML loading: defaults, `${VAR}` substitution and error messages that name file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError, LoadedConfig, load_config, parse_config
from elt_dagster_tests.conftest import write

SOURCES = """\
sources:
  - type: local
    path: data
"""


def config_file(tmp_path: Path, text: str, name: str = "orders") -> Path:
    """Write a pipeline YAML into tmp_path (with an existing `data` folder beside it)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    return write(tmp_path / f"{name}.yaml", text)


def load(tmp_path: Path, text: str, name: str = "orders") -> LoadedConfig:
    return load_config(config_file(tmp_path, text, name))


def config_error(tmp_path: Path, text: str, name: str = "orders") -> tuple[str, Path]:
    """The message of the ConfigError loading `text` raises, and the file's path."""
    path = config_file(tmp_path, text, name)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == str(path.resolve())
    message = str(caught.value)
    assert message.startswith(f"{path.resolve()}: ")
    return message, path.resolve()


# --- valid configs -----------------------------------------------------------------------------------


def test_valid_config_gets_defaults(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        SOURCES
        + """\
target:
  table: orders
schema:
  columns:
    id: integer
    customer: string
""",
        name="daily_orders",
    )
    config = loaded.config
    assert loaded.name == "daily_orders"
    assert config.name == "daily_orders"
    assert config.target.table == "orders"
    assert config.target.mode == "append"
    assert config.target.db_schema == "public"
    assert config.target.primary_key == []
    assert config.schema_ is not None
    assert config.schema_.strict_mode is False
    assert config.schema_.columns == {"id": "integer", "customer": "string"}
    source = config.sources[0]
    assert (source.type, source.pattern, source.encoding, source.delimiter, source.records_path) == (
        "local",
        "*",
        "utf-8",
        None,
        None,
    )
    assert source.resolved_path(loaded.base_dir) == (tmp_path / "data").resolve()
    assert loaded.path == (tmp_path / "daily_orders.yaml").resolve()
    assert loaded.base_dir == tmp_path.resolve()


def test_schema_is_optional(tmp_path: Path) -> None:
    loaded = load(tmp_path, SOURCES + "target:\n  table: t\n")
    assert loaded.config.schema_ is None


def test_explicit_name_and_options_are_kept(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        """\
name: nightly
sources:
  - type: local
    path: data
    pattern: "*.csv"
    delimiter: "|"
    encoding: latin-1
target:
  table: orders
  db_schema: staging
  mode: merge
  primary_key: [id]
schema:
  columns:
    id: bigint
  strict_mode: true
""",
    )
    config = loaded.config
    assert config.name == "nightly"
    assert (config.sources[0].pattern, config.sources[0].delimiter, config.sources[0].encoding) == (
        "*.csv",
        "|",
        "latin-1",
    )
    assert (config.target.db_schema, config.target.mode, config.target.primary_key) == ("staging", "merge", ["id"])
    assert config.schema_ is not None and config.schema_.strict_mode is True


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
    assert message.endswith("): unknown key (check the spelling; see the README's YAML reference)")


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
    message, _ = config_error(tmp_path, "sources:\n  - type: s3\n    path: data\ntarget:\n  table: t\n")
    assert "sources[0] (line 2): unknown type 's3' (known: 'local', 'api')" in message


def test_source_type_can_be_left_out(tmp_path: Path) -> None:
    loaded = load(tmp_path, "sources:\n  - path: data\ntarget:\n  table: t\n")
    assert loaded.config.sources[0].type == "local"


# --- schema ------------------------------------------------------------------------------------------


def test_unknown_column_type_names_columns_and_type(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path,
        SOURCES
        + """\
target:
  table: t
schema:
  columns:
    id: integer
    amount: money
""",
    )
    assert "schema.columns (line 7)" in message
    assert "column 'amount': unknown type 'money'" in message
    assert "known: " in message and "timestamptz" in message


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("int", "integer"),
        ("integer", "integer"),
        ("bigint", "bigint"),
        ("text", "string"),
        ("string", "string"),
        ("datetime", "timestamp"),
        ("timestamp", "timestamp"),
        ("timestamptz", "timestamptz"),
        ("numeric", "decimal"),
        ("decimal", "decimal"),
        ("bool", "boolean"),
        ("boolean", "boolean"),
        ("float", "float"),
        ("date", "date"),
        ("json", "json"),
        ("INT", "integer"),
        ("' Text '", "string"),
    ],
)
def test_type_aliases_map_to_canonical_names(tmp_path: Path, written: str, canonical: str) -> None:
    loaded = load(tmp_path, SOURCES + f"target:\n  table: t\nschema:\n  columns:\n    value: {written}\n")
    assert loaded.config.schema_ is not None
    assert loaded.config.schema_.columns == {"value": canonical}


@pytest.mark.parametrize("column", ["_elt_source", "_ELT_row_hash", "_elt_x"])
def test_reserved_column_names_are_rejected(tmp_path: Path, column: str) -> None:
    message, _ = config_error(
        tmp_path, SOURCES + f"target:\n  table: t\nschema:\n  columns:\n    id: integer\n    {column}: string\n"
    )
    assert f"schema.columns (line 7): column {column!r}: names starting with '_elt_' are reserved" in message


def test_column_declared_twice_case_insensitively(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path, SOURCES + "target:\n  table: t\nschema:\n  columns:\n    id: integer\n    ID: string\n"
    )
    assert "column 'ID' is declared twice" in message


# --- target ------------------------------------------------------------------------------------------


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


def test_merge_without_primary_key(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, SOURCES + "target:\n  table: t\n  mode: merge\n")
    assert "target (line 4): mode 'merge' needs a primary_key" in message


def test_primary_key_must_be_a_declared_column(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path,
        SOURCES
        + """\
target:
  table: t
  mode: merge
  primary_key: [order_id]
schema:
  columns:
    id: integer
""",
    )
    assert "target.primary_key (line 7): names undeclared columns ['order_id']" in message


def test_primary_key_matches_declared_columns_case_insensitively(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        SOURCES + "target:\n  table: t\n  mode: merge\n  primary_key: [ID]\nschema:\n  columns:\n    id: integer\n",
    )
    assert loaded.config.target.primary_key == ["ID"]


def test_undeclared_primary_key_error_points_at_its_line(tmp_path: Path) -> None:
    message, _ = config_error(
        tmp_path,
        SOURCES
        + "target:\n  table: t\n  mode: merge\n  primary_key: [order_id]\nschema:\n  columns:\n    id: integer\n",
    )
    assert "target.primary_key (line 7)" in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  mode: upsert\n", "target.mode (line 6): Input should be 'append' or 'merge'"),
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
