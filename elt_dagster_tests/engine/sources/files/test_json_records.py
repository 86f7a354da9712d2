"""JSON and JSON Lines files: flattening, records_path, broken records, numbers, byte order marks."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from elt_dagster.engine import staging
from elt_dagster.engine.dry_run import check_pipeline
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster_tests.conftest import write
from elt_dagster_tests.engine.sources.files.helpers import business, data, pipeline, rejects, run

# --- JSON --------------------------------------------------------------------------------------------


def test_json_array_with_nested_objects_is_flattened(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    records = [
        {
            "id": 1,
            "customer": {"name": "Anna", "address": {"city": "Köln", "zip": "50667"}},
            "tags": ["a", "b"],
            "items": [{"sku": "X", "qty": 2}],
            "active": True,
            "amount": 12.5,
            "note": None,
        },
        {"id": 2, "customer": {"name": "Ben"}, "active": False, "tags": []},
    ]
    write(data(tmp_path, "a.json"), json.dumps(records))
    result, rows = run(loaded, tmp_path)
    assert result.columns == [
        "id",
        "customer_name",
        "customer_address_city",
        "customer_address_zip",
        "tags",
        "items",
        "active",
        "amount",
        "note",
    ]
    assert business(rows) == [
        {
            "id": "1",
            "customer_name": "Anna",
            "customer_address_city": "Köln",
            "customer_address_zip": "50667",
            "tags": '["a","b"]',
            "items": '[{"sku":"X","qty":2}]',
            "active": "true",
            "amount": "12.5",
            "note": None,
        },
        {
            "id": "2",
            "customer_name": "Ben",
            "customer_address_city": None,
            "customer_address_zip": None,
            "tags": "[]",
            "items": None,
            "active": "false",
            "amount": None,
            "note": None,
        },
    ]
    assert [row[staging.SOURCE_ROW_COLUMN] for row in rows] == [1, 2]


def test_json_records_path(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="records_path: data.items")
    document = {"meta": {"page": 1}, "data": {"count": 2, "items": [{"id": 1, "x": {"y": "a"}}, {"id": 2}]}}
    write(data(tmp_path, "a.json"), json.dumps(document))
    result, rows = run(loaded, tmp_path)
    assert result.columns == ["id", "x_y"]
    assert business(rows) == [{"id": "1", "x_y": "a"}, {"id": "2", "x_y": None}]


def test_json_object_without_records_path_is_an_error(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    path = write(data(tmp_path, "a.json"), json.dumps({"data": [{"id": 1}]}))
    with pytest.raises(ExtractError) as caught:
        run(loaded, tmp_path)
    assert str(caught.value) == (
        f"{path}: the file is a JSON object; set records_path to the list of records inside it"
    )


def test_missing_records_path_is_named(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="records_path: data.nope")
    path = write(data(tmp_path, "a.json"), json.dumps({"data": {"items": [{"id": 1}]}}))
    with pytest.raises(ExtractError) as caught:
        run(loaded, tmp_path)
    assert str(caught.value) == f"{path}: records_path 'data.nope' is not in the file"


def test_records_path_that_is_not_a_list(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="records_path: meta")
    write(data(tmp_path, "a.json"), json.dumps({"meta": {"page": 1}, "data": []}))
    with pytest.raises(ExtractError, match="records_path 'meta' is a map, not a list"):
        run(loaded, tmp_path)


def test_invalid_json_file_is_an_error(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    path = write(data(tmp_path, "a.json"), '[{"id": 1}, {"id": ')
    with pytest.raises(ExtractError, match="invalid JSON") as caught:
        run(loaded, tmp_path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_numbers_keep_their_digits(tmp_path: Path, suffix: str) -> None:
    loaded = pipeline(tmp_path, {"amount": "decimal"})
    record = '{"amount": 12345678901234567.89}'
    write(data(tmp_path, f"a{suffix}"), f"[{record}]" if suffix == ".json" else record + "\n")
    _, rows = run(loaded, tmp_path)
    assert rows[0]["amount"] == "12345678901234567.89"


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines_with_a_broken_line(tmp_path: Path, suffix: str) -> None:
    loaded = pipeline(tmp_path)
    path = write(
        data(tmp_path, f"events{suffix}"),
        '{"id": 1, "kind": "a"}\n{"id": 2, "kind": \n\n{"id": 4, "kind": "d", "extra": {"k": 1}}\n',
    )
    result, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1", "kind": "a", "extra_k": None}, {"id": "4", "kind": "d", "extra_k": "1"}]
    assert [row[staging.SOURCE_ROW_COLUMN] for row in rows] == [1, 4]  # line numbers; the blank line counts
    assert [(f.rows, f.malformed) for f in result.files] == [(2, 1)]
    assert result.malformed == 1
    [reject] = rejects(result)
    assert reject["source"] == str(path)
    assert reject["source_row"] == 2
    assert reject["raw_record"] == {"line": '{"id": 2, "kind": '}
    assert reject["reason"].startswith("invalid JSON")


def test_json_lines_value_that_is_not_an_object(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    write(data(tmp_path, "a.jsonl"), '{"id": 1}\n[1, 2]\n')
    result, rows = run(loaded, tmp_path)
    assert business(rows) == [{"id": "1"}]
    [reject] = rejects(result)
    assert (reject["source_row"], reject["reason"]) == (2, "record is not a JSON object")


def test_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.json").write_bytes(b'\xef\xbb\xbf[{"id": 1}, {"id": 2}]')
    with gzip.open(tmp_path / "data" / "b.json.gz", "wb") as handle:
        handle.write(b'\xef\xbb\xbf[{"id": 3}]')
    report = check_pipeline(pipeline(tmp_path, source_options="encoding: utf-8-sig"), tmp_path / "staging")
    assert report.rows_valid == 3


def test_keys_that_flatten_to_one_column_are_quarantined_not_overwritten(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.jsonl", '{"a_b": 1, "a": {"b": 2}}\n{"a_b": 3}\n')
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging", keep_rows=5)
    assert [row["a_b"] for row in report.first_rows] == ["3"]
    assert report.rejected == 1 and "a_b" in report.first_rejects[0]["reason"]


def test_a_json_line_with_undecodable_bytes_is_set_aside(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path)
    data(tmp_path, "a.jsonl").write_bytes(b'{"id": 1}\n{"id": 2, "name": "Gr\xb8n"}\n{"id": 3}\n')
    report, rows = run(loaded, tmp_path)
    assert [row["id"] for row in rows] == ["1", "3"] and report.rejected == 1
    (reject,) = rejects(report)
    assert reject["source_row"] == 2 and "0xb8" in reject["reason"]
    assert reject["raw_record"]["line"] == '{"id": 2, "name": "Gr\\xb8n"}'


def test_a_deeply_nested_record_is_skipped_without_building_it(tmp_path: Path) -> None:
    deep = "[" * 50_000 + "]" * 50_000  # 100 KB: ijson's items() took 6 GB and 12 s on it
    path = tmp_path / "deep.json"
    path.write_text(f'[{{"id": 1}}, {{"id": 2, "x": {deep}}}, {{"id": 3}}]')
    probe = (
        "import sys\nfrom pathlib import Path\n"
        "from elt_dagster.engine.sources.files.json_records import iter_json\n"
        f"batches = list(iter_json(Path({str(path)!r}), encoding='utf-8', records_path=None))\n"
        "print(sum(b.table.num_rows for b in batches), [m.reason for b in batches for m in b.malformed])\n"
        # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's peak (pytest's)
        "print(next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM')) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    counts, peak_mb = done.stdout.strip().splitlines()
    assert counts == "2 ['nested deeper than 64 levels (line 1)']"
    assert int(peak_mb) < 400


def test_records_path_finds_the_array_and_nothing_else(tmp_path: Path) -> None:
    loaded = pipeline(tmp_path, source_options="records_path: data.items")
    write(
        data(tmp_path, "a.json"),
        '{"meta": {"items": [{"id": 9}]}, "data": {"other": [[{"id": 8}]], "items": [{"id": 1}, {"id": 2}]}}',
    )
    _, rows = run(loaded, tmp_path)
    assert [row["id"] for row in rows] == ["1", "2"]
