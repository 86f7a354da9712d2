"""The caps on a pipeline YAML: aliases, document size and value size refused before anything expands them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from elt_dagster.engine.config import ConfigError, load_config, yaml_limits
from elt_dagster.engine.config.yaml_limits import MAX_DOCUMENT_BYTES, MAX_EXPANDED_VALUES, check_yaml_size
from elt_dagster_tests.engine.config.yaml_files import SOURCES, config_error, config_file, load, yaml_bomb

GOOD = SOURCES + "target:\n  table: t\n"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """`elt-dagster validate path` in a subprocess: without the caps some of these files would never finish; the
    timeout only turns such a hang into a failure."""
    command = [sys.executable, "-m", "elt_dagster.cli", "validate", str(path)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("loader", [yaml.SafeLoader, yaml_limits.YAML_LOADER], ids=["pyyaml", "default"])
def test_a_yaml_bomb_is_refused_at_the_alias_that_passes_the_cap(
    loader: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yaml_limits, "YAML_LOADER", loader)
    with pytest.raises(ConfigError) as caught:
        check_yaml_size(yaml_bomb(), tmp_path / "bomb.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'bomb.yaml'}: l4[5] (line 10): the file holds more than {MAX_EXPANDED_VALUES:,} keys and values "
        "(the alias *l3 counts as what it names)"
    )


def test_the_cli_refuses_a_yaml_bomb_in_one_line(tmp_path: Path) -> None:
    done = validate(config_file(tmp_path, yaml_bomb()))
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert problems == [
        f"  - l4[5] (line 10): the file holds more than {MAX_EXPANDED_VALUES:,} keys and values "
        "(the alias *l3 counts as what it names)"
    ]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("loop: &loop [1, *loop]\n", "loop[1] (line 6): the alias *loop is inside the collection it names"),
        ("loop: &loop {a: {b: *loop}}\n", "loop.a.b (line 6): the alias *loop is inside the collection it names"),
    ],
)
def test_an_alias_inside_its_own_collection_is_refused(tmp_path: Path, extra: str, expected: str) -> None:
    done = validate(config_file(tmp_path, GOOD + extra))
    assert done.returncode == 1 and f"  - {expected}" in done.stderr.splitlines()


def test_a_file_over_the_size_cap_is_refused_naming_the_long_line_and_its_key(tmp_path: Path) -> None:
    text = "name: " + "a" * 3_000_000 + "\n" + GOOD
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(tmp_path, text))
    assert caught.value.problems == [
        f"line 1: `name` holds a value of more than 65,536 characters; the file is {len(text):,} bytes: "
        f"a pipeline YAML is at most {MAX_DOCUMENT_BYTES:,} bytes"
    ]


def test_a_file_of_many_short_lines_over_the_size_cap_says_its_size(tmp_path: Path) -> None:
    text = GOOD + "# a comment line\n" * 40_000
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(tmp_path, text))
    assert caught.value.problems == [f"the file is {len(text):,} bytes: a pipeline YAML is at most 524,288 bytes"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: " + "a" * 70_000 + "\n" + GOOD, "name (line 1): a value of 70,000 characters (at most 65,536)"),
        (GOOD + "description: |\n" + "  line\n" * 20_000, "description (line 6): a value of 100,000 characters"),
        (GOOD + "? " + "k" * 70_000 + "\n: 1\n", "(top level) (line 6): a key of 70,000 characters"),
    ],
    ids=["name", "block scalar", "key"],
)
def test_a_long_value_is_refused_with_its_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    message, _ = config_error(tmp_path, text)
    assert expected in message


def test_a_file_of_too_many_values_is_refused_where_it_passes_the_cap(tmp_path: Path) -> None:
    message, _ = config_error(tmp_path, GOOD + "many: [" + ", ".join(["1"] * MAX_EXPANDED_VALUES) + "]\n")
    assert re.search(rf"many\[\d+\] \(line 6\): the file holds more than {MAX_EXPANDED_VALUES:,} keys", message)


def test_a_config_with_a_few_anchors_and_a_merge_key_still_loads(tmp_path: Path) -> None:
    text = """\
sources:
  - &local {type: local, path: data, pattern: "*.csv"}
  - <<: *local
    pattern: "*.json"
target:
  table: t
schema:
  columns:
    id: &whole_number {type: integer, not_null: true}
    quantity: *whole_number
    note: string
"""
    config = load(tmp_path, text).config
    assert [source.pattern for source in config.sources] == ["*.csv", "*.json"]
    assert config.schema_ is not None and config.schema_.columns == {
        "id": "integer",
        "quantity": "integer",
        "note": "string",
    }
    assert config.schema_.rules["quantity"].not_null
