"""Fuzzed pipeline YAML files: each loads or is one ConfigError naming the file, and the code location always loads.

Seeded line mutations of two good configs (values replaced, lines inserted, deleted, indented, swapped, duplicated:
duplicate keys), plus the files the issues named: a YAML bomb of nested anchors, a 50 MB scalar, an alias inside
the collection it names, targets in the bookkeeping schema `elt` or named like a pipeline's own assets. Each file
sits in a config folder beside another, good pipeline; a child process (with a time budget) validates it, builds the
folder's definitions and checks that Dagster can load them. A case is: ok (valid, both pipelines defined), a clear
error (one line naming the file; the other pipeline still defined), a raw traceback (anything else raised, or a
definition error), a hang, lost (the other pipeline gone from the definitions) or leaked (the planted `${VAR}`
secret in a message or the log).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from dagster import Definitions

from elt_dagster.definitions import build_definitions
from elt_dagster.engine.config import ConfigError, load_config
from elt_dagster_tests.faults.fuzz_tally import RAW_DUMP, Verdict, error_verdict, leaks, run_corpus, target_message
from elt_dagster_tests.faults.fuzz_worker import Worker

pytestmark = pytest.mark.faults

SECRET_VAR, SECRET = "ELT_FUZZ_YAML_TOKEN", "yaml-tok-7e6d5c-planted"
GOOD = """name: shop
sources:
  - type: local
    path: data
    pattern: "*.csv"
  - type: api
    url: https://api.example.com/v1/items
    auth:
      type: bearer
      token: ${ELT_FUZZ_YAML_TOKEN}
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
GOOD_RULES = """name: shop
sources:
  - path: data
    delimiter: ";"
    encoding: cp1252
  - type: api
    url: https://api.example.com/v1/${ELT_FUZZ_YAML_TOKEN}/items
    method: POST
    json: {query: "${ELT_FUZZ_YAML_TOKEN}"}
    records_path: data.items
    incremental: {cursor_field: updated, param: since, initial_value: "2024-01-01"}
target:
  table: orders
  mode: merge
  primary_key: [id]
  order_by: updated
schema:
  strict_mode: true
  columns:
    id: {type: integer, not_null: true, min: 1}
    amount: {type: decimal, max: "1e6"}
    status: {type: string, allowed: [new, paid]}
    updated: timestamptz
"""
BOOKKEEPING_SCHEMA = "elt"
OTHER = "name: other\nsources:\n  - path: data\ntarget:\n  table: other_orders\n"
SPECIALS = [
    "\t",
    "[",
    "{",
    ": :",
    "${UNSET_ELT_FUZZ_VAR}",
    "${ELT_FUZZ_YAML_TOKEN}",
    "http://x/${ELT_FUZZ_YAML_TOKEN}/",
    '"; DROP TABLE x; --',
    "x" * 70,
    "../../../etc",
    "/etc/passwd",
    "- - - -",
    "!!python/object:os.system",
    "!!binary aGVsbG8=",
    "&a *a",
    "&a [*a]",
    "<<: *nowhere",
    "\u00e9\u4e2d",
    "\u2028",
    "\x85",
    "\ufeff",
    "0x1F",
    "~",
    ".nan",
    "-.inf",
    "1e400",
    "2024-02-30",
    "[" * 5000,
    "99 * * * *",
    "merge",
    "type: api",
    "---",
    "...",
    "%YAML 1.1",
    "? complex",
    "elt",
    "config_history",
    "_elt_row_hash",
    "orders__rejected",
    "pg_catalog",
]
BOMB = "".join(
    f"{chr(97 + level)}: &{chr(97 + level)} [" + ",".join([f"*{chr(96 + level)}" if level else '"lol"'] * 9) + "]\n"
    for level in range(9)
)
NAMED: dict[str, str | bytes] = {  # the files of the issues, as they were written there
    "YAML bomb of nested anchors": BOMB + GOOD,
    "a 50 MB name": GOOD.replace("name: shop", "name: " + "x" * (50 << 20)),
    "an alias inside the collection it names": GOOD + "extra: &loop [*loop]\n",
    "duplicate keys": GOOD + "target:\n  table: again\n",
    "target elt.config_history": GOOD.replace("db_schema: public", "db_schema: elt").replace(
        "orders", "config_history"
    ),
    "target elt.file_fingerprints": GOOD.replace("db_schema: public", "db_schema: elt").replace(
        "table: orders", "table: file_fingerprints"
    ),
    "target elt.table_row_counts": GOOD.replace("db_schema: public", "db_schema: elt").replace(
        "table: orders", "table: table_row_counts"
    ),
    "target public.config_history": GOOD.replace("table: orders", "table: config_history"),
    "target other_orders, as the other pipeline": GOOD.replace("table: orders", "table: other_orders"),
    "name other, as the other pipeline": GOOD.replace("name: shop", "name: other"),
    "a UTF-16 file": GOOD.encode("utf-16"),
    "an empty file": "",
    "a list, not a mapping": "- sources\n- target\n",
    "a secret in the URL path": GOOD.replace("/v1/items", "/v1/${ELT_FUZZ_YAML_TOKEN}/items"),
}


def mutate(text: str, generator: random.Random) -> str:
    """1 to 3 seeded line edits: replace a value, insert a special, delete, indent, swap or duplicate a line."""
    lines = text.splitlines()
    for _ in range(generator.randint(1, 3)):
        at = generator.randrange(len(lines))
        kind = generator.choice(["replace_value", "replace_value", "insert", "delete", "indent", "swap", "duplicate"])
        if kind == "replace_value" and ":" in lines[at]:
            key = lines[at].split(":", 1)[0]
            lines[at] = f"{key}: {generator.choice(SPECIALS)}"
        elif kind == "insert":
            lines.insert(at, generator.choice(SPECIALS))
        elif kind == "delete":
            del lines[at]
        elif kind == "indent":
            lines[at] = " " * generator.randint(1, 5) + lines[at]
        elif kind == "duplicate":
            lines.insert(generator.randrange(len(lines) + 1), lines[at])
        else:
            other = generator.randrange(len(lines))
            lines[at], lines[other] = lines[other], lines[at]
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


PER_SEED = 400
CASES = list(NAMED.items()) + [
    (f"{name}-{index}", mutate(seed, random.Random(f"{name}-{index}")))
    for name, seed in (("good", GOOD), ("rules", GOOD_RULES))
    for index in range(PER_SEED)
]


def validate_folder(path: str) -> dict[str, Any]:
    """In the child: validate the YAML at `path`, then build its folder's definitions as Dagster loads them."""
    try:
        target, error = load_config(path).config.target, ""
    except ConfigError as exc:
        target, error = None, str(exc)
    defs = build_definitions(Path(path).parent)
    Definitions.validate_loadable(defs)
    return {
        "name": load_config(path).name if target else "",
        "schema": target.db_schema if target else "",
        "error": error,
        "pipelines": list(defs.metadata["pipelines"].value),
        "invalid": dict(defs.metadata["invalid_configs"].value),
    }


def verdict(path: Path, found: dict[str, Any]) -> Verdict:
    """A folder whose definitions loaded: ok, a clear error, raw (a message that is not one line naming the file),
    or lost (the other pipeline gone, or a target in the bookkeeping schema accepted: its load would take over the
    project's own tables)."""
    if "other" not in found["pipelines"]:
        return "lost", f"the other pipeline is gone from the definitions: {found['invalid']}"
    shown = found["invalid"].get(str(path), "")
    for message in {found["error"], shown} - {""}:
        if not message.startswith(f"{path}: ") or "\n" in message.strip() or RAW_DUMP.search(message):
            return "raw", f"(not one line naming the file) {message[:300]}"
    if found["error"]:
        return "clear error", f"ConfigError: {found['error']}"
    if shown:
        return "clear error", f"valid alone, refused in the folder: {shown}"
    if found["name"] not in found["pipelines"]:
        return "lost", f"pipeline {found['name']!r} valid but not defined"
    if found["schema"] == BOOKKEEPING_SCHEMA:
        return "lost", f"a target in the bookkeeping schema {BOOKKEEPING_SCHEMA!r} was accepted"
    return "ok", ""


def test_fuzzed_yaml_loads_or_is_one_config_error_and_the_code_location_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VAR, SECRET)
    numbers = {seed: number for number, (seed, _) in enumerate(CASES)}

    def judge(case: tuple[str, str | bytes]) -> Verdict:
        seed, text = case
        path = tmp_path / f"case{numbers[seed]}" / "shop.yaml"
        (path.parent / "data").mkdir(parents=True)
        (path.parent / "other.yaml").write_text(OTHER, encoding="utf-8")
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        result = worker.call(validate_folder, str(path))
        found = result.value or {}
        leaked = leaks([SECRET], ("message", result.message), ("log", result.logs), ("definitions", str(found)))
        if leaked:
            return "leaked", "; ".join(leaked)
        if result.raised or result.hang or result.crashed:
            return error_verdict(result, [str(path)])
        return verdict(path, found)

    with Worker() as worker:
        tally = run_corpus("yaml", CASES, lambda case: case[0], judge)
    assert tally.counts["ok"] >= 10 and tally.counts["clear error"] >= len(CASES) // 2, tally.line()
    missed = tally.missed()
    assert not missed, target_message(tally)
