"""Fuzzed input files, each loaded into PostgreSQL beside a good file: rows (bad records quarantined) or one clear error.

Seeded mutations of good csv/txt/jsonl/json files, plain and gzipped (byte flips, truncation, NUL keys and headers,
control bytes, BOMs, cp1252 bytes, deep nesting, NaN, huge fields, digits and exponents, dates past any calendar,
wrong field counts, corrupted gzip), plus the inputs the issues named. Each is read by a real run (`run_pipeline`)
with a declared schema of typed columns, a strict one, or none, in a child process with a time budget. A case is:
ok (rows loaded, the good file's among them, read = valid + quarantined = what the tables hold), a clear error
(one line naming the file, nothing committed), a raw traceback, a hang, or rows lost.
"""

from __future__ import annotations

import gzip
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from elt_dagster_tests.faults.fuzz_tally import (
    Verdict,
    count_problems,
    error_verdict,
    run_corpus,
    run_counts,
    table_state,
    target_message,
)
from elt_dagster_tests.faults.fuzz_worker import Worker

pytestmark = pytest.mark.faults

COLUMNS = "id,name,amount,flag,day,at"
SEEDS = {
    "csv": b"id,name,amount,flag,day,at\n1,Ann,10.5,true,2024-01-02,2024-01-02 03:04:05\n"
    b'2,"Bob, Jr.",-20,no,2024-02-29,2024-02-29T10:00:00\n3,"line\nbreak",3e2,1,1999-12-31,1999-12-31 23:59:59\n',
    "txt": b"id;name;amount;flag;day;at\n1;Ann;10.5;yes;2024-01-02;2024-01-02 03:04:05\n2;Bob;20;false;2024-03-01;\n",
    "jsonl": b'{"id": 1, "name": "Ann", "amount": 10.5, "flag": true, "day": "2024-01-02", "tags": [1, 2.50]}\n'
    b'{"id": 2, "name": "Bob", "amount": "20", "flag": "no", "at": "2024-02-29 10:00:00", "nested": {"a": 1}}\n',
    "json": b'[{"id": 1, "name": "Ann", "amount": 1.5, "flag": false, "day": "2024-01-02"}, '
    b'{"id": 2, "name": "Bob", "nested": {"a": [1, 2]}, "at": "2024-02-29T10:00:00Z"}]',
}
SPECIALS = [
    b"\x00",
    b"\x00\x00\x00",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xef\xbb\xbf",
    b"\xb8",
    b"\x93cp1252\x94 caf\xe9",
    b"\xf0\x9f\x98\x80",
    b"\xf0\x9f",
    b'"\\ud800"',
    b'"\\u0000"',
    b'{"\\u0000": 1}',
    b"1e9999999999999999999",
    b"1e100000000",
    b"NaN",
    b"-Infinity",
    b"[" * 3000,
    b'{"a":' * 200,
    b"x" * 300_000,
    b"9" * 200_000,
    b"\r",
    b"\r\n\r\n",
    b"\x1a\x7f\x1b",
    b",,,,,",
    b";;;",
    b'"',
    b"\\",
    b"\n1,2,3,4,5,6,7,8\n",
    b"\n3,yes,extra\n",
]
VALUES = [
    b"",
    b"\x00",
    b"\x00\x00",
    b"NaN",
    b"Infinity",
    b"1e100000000",
    b"-1e-100000000",
    b"9" * 200_000,
    b"18446744073709551616",
    b"-9223372036854775809",
    b"0.1e-7",
    b"99999-01-01",
    b"10000-01-01 00:00:00",
    b"0000-00-00",
    b"2024-02-30",
    b"2024-01-01T25:61:00",
    b"1e400",
    b"yes",
    b"TRUE",
    b"maybe",
    b"null",
    b"_elt_source",
    b"ID",
    b"tableoid",
    b"x" * 100,
    b"\xe9t\xe9",
    b"\x93q\x94",
]


def mutate(seed: bytes, generator: random.Random) -> bytes:
    """1 to 4 seeded edits: flip, truncate, insert a special, delete, duplicate, or replace a token with a value."""
    data = bytearray(seed)
    for _ in range(generator.randint(1, 4)):
        kind = generator.choice(["flip", "truncate", "insert", "insert", "delete", "duplicate", "value", "value"])
        at = generator.randrange(len(data) + 1) if data else 0
        tokens = list(re.finditer(rb'[^,;\n\r"{}\[\]: ]+', data))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] = generator.randrange(256)
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = generator.choice(SPECIALS)
        elif kind == "delete":
            del data[at : at + generator.randint(1, 10)]
        elif kind == "value" and tokens:
            token = generator.choice(tokens)
            data[token.start() : token.end()] = generator.choice(VALUES)
        else:
            data += data[: generator.randint(0, len(data))]
    return bytes(data)


@dataclass(frozen=True)
class FileCase:
    """One fuzzed file (`name` in the data folder, beside good.csv) and the schema it is loaded with."""

    seed: str
    name: str
    content: bytes
    schema: str = "typed"
    """typed (integer, decimal, boolean, date, timestamp, string), merge (typed, merged on id), strict (other types,
    strict_mode) or none."""
    options: str = ""
    """More keys of the local source, as YAML (`encoding: utf-16`); `{data}` stands for the data folder."""


def fuzzed(fmt: str, index: int) -> FileCase:
    generator = random.Random(f"{fmt}-{index}")
    schema = generator.choice(["typed", "typed", "strict", "none", "merge"])
    plain = fmt.removesuffix(".gz")
    content = mutate(SEEDS[plain], generator)
    if fmt.endswith(".gz"):
        compressed = gzip.compress(content if generator.random() < 0.6 else SEEDS[plain], mtime=0)
        content = compressed if generator.random() < 0.5 else mutate(compressed, generator)
    return FileCase(f"{fmt}-{index}", f"input.{fmt}", content, schema)


GZIP = gzip.compress(SEEDS["csv"], mtime=0)
UTF16 = "encoding: utf-16"
NAMED = [  # the inputs of the issues, as they were written there
    FileCase("boolean column, every record set aside", "input.csv", b"id,flag\n3,yes,extra\n"),
    FileCase("all-NUL CSV header", "input.csv", b"\x00,\x00\x00\n1,2\n", "none"),
    FileCase("NUL keys in JSON", "input.json", b'[{"\\u0000": 1, "id": 2}, {"\\u0000\\u0000": 3}]', "none"),
    FileCase("NUL keys in JSON, typed", "input.json", b'[{"\\u0000": 1, "id": 2}]'),
    FileCase("corrupted gzip", "input.csv.gz", GZIP[:30] + bytes(20) + GZIP[50:]),
    FileCase("truncated gzip", "input.csv.gz", GZIP[:-12]),
    FileCase("1e100000000 in a decimal column", "input.csv", b"id,amount\n1,1e100000000\n"),
    FileCase("a date past Python's range", "input.csv", b"id,day,at\n1,99999-01-01,99999-01-01 00:00:00\n"),
    FileCase("a 200,000-digit decimal", "input.csv", b"id,amount\n1," + b"9" * 200_000 + b"\n"),
    FileCase("utf-16 without a BOM", "input.csv", "id,name\n1,Ann\n".encode("utf-16-le"), "none", UTF16),
    FileCase("utf-16, an odd byte count", "input.csv", "id,name\n1,Ann\n".encode("utf-16") + b"\x00", "none", UTF16),
    FileCase("an absolute pattern", "input.csv", b"id\n1\n", "none", "pattern: '{data}/*'"),
    FileCase("NaN and Infinity in JSON Lines", "input.jsonl", b'{"id": NaN, "amount": Infinity}\n{"id": 4}\n'),
    FileCase("deep JSON", "input.json", b'[{"id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]"),
    FileCase("deep JSON Lines", "input.jsonl", b'{"id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"),
    FileCase("cp1252 rows in UTF-8", "input.csv", b"id,name\n1,\x93quoted\x94\n2,caf\xe9\n"),
    FileCase("wrong field counts", "input.csv", b"id,name\n1\n2,b,c\n3,c\n"),
    FileCase("huge exponents", "input.csv", b"id,amount,at\n1e308,1e400,1e9999999999\n"),
    FileCase("a UTF-8 BOM only", "input.csv", b"\xef\xbb\xbf"),
    FileCase("a header only", "input.csv", b"id,name\n"),
    FileCase("empty csv", "input.csv", b""),
    FileCase("empty json", "input.json", b""),
    FileCase("empty jsonl", "input.jsonl", b"", "none"),
    FileCase("a 20 MB JSON string", "input.json", b'[{"id": 1, "name": "' + b"x" * (20 << 20) + b'"}]'),
    FileCase("a 20 MB JSON Lines value", "input.jsonl", b'{"id": 1, "name": "' + b"x" * (20 << 20) + b'"}\n'),
    FileCase("100,000 columns", "input.csv", b",".join(b"c%d" % i for i in range(100_000)) + b"\n1\n", "none"),
    FileCase(
        "1,000,000 columns, strict", "input.csv", b",".join(b"c%d" % i for i in range(10**6)) + b"\n1\n", "strict"
    ),
    FileCase("a lone surrogate", "input.jsonl", b'{"id": 1, "name": "\\ud800"}\n'),
    FileCase("an integer past bigint", "input.csv", b"id\n18446744073709551616\n"),
]
FORMATS = ["csv", "txt", "jsonl", "json", "csv.gz", "jsonl.gz"]
PER_FORMAT = 80
CASES = NAMED + [fuzzed(fmt, index) for fmt in FORMATS for index in range(PER_FORMAT)]

GOOD = b"id,name,amount,flag,day,at\n900001,good-1,1.5,true,2024-01-01,2024-01-01 00:00:00\n900002,good-2,2,false,,\n"
GOOD_ROWS = 2
SCHEMAS = {
    "typed": "schema:\n  columns:\n    id: integer\n    name: string\n    amount: decimal\n    flag: boolean\n"
    "    day: date\n    at: timestamp\n",
    "strict": "schema:\n  strict_mode: true\n  columns:\n    id: bigint\n    name: text\n    amount: float\n"
    "    flag: bool\n    day: date\n    at: timestamptz\n    tags: json\n",
    "none": "",
}
SCHEMAS["merge"] = SCHEMAS["typed"]
MERGE = "  mode: merge\n  primary_key: [id]\n"


def write_case(folder: Path, case: FileCase, number: int, db_schema: str) -> Path:
    """The case's folder: data/good.csv (in the case's encoding), data/<the fuzzed file>, and the pipeline YAML
    loading both."""
    (folder / "data").mkdir(parents=True)
    encoding = case.options.removeprefix("encoding: ") if case.options.startswith("encoding:") else "utf-8"
    (folder / "data" / "good.csv").write_bytes(GOOD.decode().encode(encoding))
    (folder / "data" / case.name).write_bytes(case.content)
    options = f"    {case.options}\n".replace("{data}", str(folder / "data")) if case.options else ""
    text = (
        f"name: fz{number}\nsources:\n  - type: local\n    path: data\n{options}"
        f"target:\n  table: t{number}\n  db_schema: {db_schema}\n{MERGE if case.schema == 'merge' else ''}"
        f"{SCHEMAS[case.schema]}"
    )
    (folder / "p.yaml").write_text(text, encoding="utf-8")
    return folder / "p.yaml"


def loaded_verdict(run: dict[str, Any], tables: dict[str, Any]) -> Verdict:
    """A run that succeeded: ok, or rows lost (the good file's missing, or counts that do not add up)."""
    problems = count_problems(run, tables)
    if tables["from_source"] != GOOD_ROWS:
        problems.insert(0, f"{tables['from_source']} of the good file's {GOOD_ROWS} rows in the table")
    return ("lost", "; ".join(problems)) if problems else ("ok", "")


def test_fuzzed_files_load_into_postgresql_or_end_in_one_clear_error(
    tmp_path: Path, database_url: str, db_schema: str
) -> None:
    numbers = {case.seed: number for number, case in enumerate(CASES)}

    def judge(case: FileCase) -> Verdict:
        number = numbers[case.seed]
        folder = tmp_path / f"case{number}"
        config = write_case(folder, case, number, db_schema)
        result = worker.call(run_counts, str(config))
        tables = table_state(database_url, db_schema, f"t{number}", str(folder / "data" / "good.csv"))
        if not result.raised and not result.hang and not result.crashed:
            return loaded_verdict(result.value, tables)
        verdict = error_verdict(result, [str(folder / "data" / case.name), case.name, str(config)])
        if verdict[0] == "clear error" and tables["rows"] + tables["quarantined"]:
            return "lost", f"the run failed but committed {tables['rows']} rows: {verdict[1]}"
        return verdict

    with Worker() as worker:
        tally = run_corpus("files", CASES, lambda case: case.seed, judge)
    assert tally.counts["ok"] >= len(CASES) // 3, tally.line()  # the corpus loads rows, not only errors
    missed = tally.missed()
    assert not missed, target_message(tally)


def test_the_corpus_covers_every_format_and_schema() -> None:
    kinds: dict[Any, int] = {}
    for case in CASES:
        kinds[(case.name, case.schema)] = kinds.get((case.name, case.schema), 0) + 1
    formats = {name for name, _ in kinds}
    assert {f"input.{fmt}" for fmt in FORMATS} <= formats
    assert {schema for _, schema in kinds} == set(SCHEMAS)
    assert len(CASES) == len({case.seed for case in CASES})
