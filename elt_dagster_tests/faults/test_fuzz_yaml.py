"""Fuzzed pipeline YAML files: each one loads or is one ConfigError naming the file; none crashes the definitions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import ConfigError, load_config
from elt_dagster_tests.faults.summary import record

pytestmark = pytest.mark.faults

GOOD = """name: shop
sources:
  - type: local
    path: data
    pattern: "*.csv"
  - type: api
    url: https://api.example.com/v1/items
    auth:
      type: bearer
      token: secret-token
    paginate:
      type: page_number
target:
  table: orders
  db_schema: public
  mode: merge
  primary_key: [id]
schema:
  columns:
    id: integer
    name: string
schedule: "@hourly"
start_time: "2026-01-01 00:00"
"""
SPECIALS = [
    "\t",
    "[",
    "{",
    ": :",
    "${UNSET_ELT_FUZZ_VAR}",
    '"; DROP TABLE x; --',
    "x" * 70,
    "../../../etc",
    "- - - -",
    "!!python/object:os.system",
    "&a *a",
    "\u00e9\u4e2d",
    "0x1F",
    "~",
    "[" * 5000,
    "99 * * * *",
    "merge",
    "type: api",
]


def mutate(text: str, generator: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(generator.randint(1, 3)):
        at = generator.randrange(len(lines))
        kind = generator.choice(["replace_value", "insert", "delete", "indent", "swap"])
        if kind == "replace_value" and ":" in lines[at]:
            key = lines[at].split(":", 1)[0]
            lines[at] = f"{key}: {generator.choice(SPECIALS)}"
        elif kind == "insert":
            lines.insert(at, generator.choice(SPECIALS))
        elif kind == "delete":
            del lines[at]
        elif kind == "indent":
            lines[at] = " " * generator.randint(1, 5) + lines[at]
        else:
            other = generator.randrange(len(lines))
            lines[at], lines[other] = lines[other], lines[at]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("index", range(100))
def test_a_fuzzed_yaml_loads_or_is_one_config_error(tmp_path: Path, index: int) -> None:
    path = tmp_path / "configs" / "shop.yaml"
    (path.parent / "data").mkdir(parents=True)
    path.write_text(mutate(GOOD, random.Random(index)), encoding="utf-8")
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}: ") and "Traceback" not in str(exc)
        record("fuzzed pipeline YAML", str(index), "one config error naming the file; code location loads")
    else:
        assert loaded.name  # a valid mutation: its definitions build
        record("fuzzed pipeline YAML", str(index), "valid; code location loads")
    defs = build_definitions(path.parent)  # valid or not, the code location loads
    assert defs.metadata["config_dir"].value == str(path.parent)


def test_the_corpus_mixes_valid_and_invalid_files(tmp_path: Path) -> None:
    outcomes = {"loaded": 0, "config error": 0}
    for index in range(100):
        path = tmp_path / str(index) / "shop.yaml"
        (path.parent / "data").mkdir(parents=True)
        path.write_text(mutate(GOOD, random.Random(index)), encoding="utf-8")
        try:
            load_config(path)
            outcomes["loaded"] += 1
        except ConfigError:
            outcomes["config error"] += 1
    assert outcomes["loaded"] >= 3 and outcomes["config error"] >= 50, outcomes  # seeded: 3 and 97
