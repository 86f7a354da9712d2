"""Fuzzed input files: every one ends in rows (bad records quarantined) or one clear error naming the file.

Mutations of a few good files, with a fixed seed: byte flips, truncation, NUL and control bytes, BOMs, mixed
encodings, deep nesting, huge fields and exponents, lone surrogates, empty and header-only files. A dry run reads
each (the code path of a run, without the database) and the counts must add up.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from elt_dagster.engine.config import load_config
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.errors import PipelineError
from elt_dagster_tests.conftest import write
from elt_dagster_tests.faults.summary import record

pytestmark = pytest.mark.faults

SEEDS = {
    "csv": b'id,name,amount\n1,Ann,10.5\n2,"Bob, Jr.",20\n3,"line\nbreak",30\n',
    "txt": b"id;name;amount\n1;Ann;10.5\n2;Bob;20\n",
    "jsonl": b'{"id": 1, "name": "Ann", "tags": [1, 2.50]}\n{"id": 2, "name": "Bob", "nested": {"a": 1}}\n',
    "json": b'[{"id": 1, "name": "Ann"}, {"id": 2, "name": "Bob", "nested": {"a": [1, 2]}}]',
}
SPECIALS = [
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xb8",
    b'"\\ud800"',
    b"1e9999999999999999999",
    b"[" * 3000,
    b"{" * 100,
    b"x" * 300_000,
    b"\r",
    b",,,,,",
    b'"',
    b"NaN",
]


def mutate(seed: bytes, generator: random.Random) -> bytes:
    data = bytearray(seed)
    for _ in range(generator.randint(1, 4)):
        kind = generator.choice(["flip", "truncate", "insert", "delete", "duplicate"])
        at = generator.randrange(len(data) + 1) if data else 0
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] = generator.randrange(256)
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = generator.choice(SPECIALS)
        elif kind == "delete":
            del data[at : at + generator.randint(1, 10)]
        else:
            data += data[: generator.randint(0, len(data))]
    return bytes(data)


CASES = [(fmt, index) for fmt in SEEDS for index in range(75)] + [(fmt, "empty") for fmt in SEEDS]


@pytest.mark.parametrize(("fmt", "index"), CASES, ids=[f"{f}-{i}" for f, i in CASES])
def test_a_fuzzed_file_ends_in_rows_or_one_clear_error(tmp_path: Path, fmt: str, index: int | str) -> None:
    content = b"" if index == "empty" else mutate(SEEDS[fmt], random.Random(f"{fmt}-{index}"))
    path = tmp_path / "data" / f"input.{fmt}"
    path.parent.mkdir()
    path.write_bytes(content)
    config = write(tmp_path / "p.yaml", "sources:\n  - type: local\n    path: data\ntarget:\n  table: t\n")
    try:
        report = check_pipeline(load_config(config), tmp_path / "staging", keep_rows=0)
    except PipelineError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message.strip() and "Traceback" not in message
        record("fuzzed data files", f"{fmt}-{index}", "one-line error naming the file")
        return
    assert report.rows_extracted + report.malformed == report.rows_valid + report.rejected
    record(
        "fuzzed data files", f"{fmt}-{index}", "rows, counts add up" + (", some quarantined" if report.rejected else "")
    )
