"""Defects found in review: each one pinned by a test."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pytest

from elt_dagster.engine.config.models import ConfigError, load_config
from elt_dagster.engine.db import redact_url
from elt_dagster.engine.run import check_pipeline
from elt_dagster.engine.sources.api.client import ApiSource
from elt_dagster.engine.sources.api.spool import cursor_key
from elt_dagster.engine.sources.files.readers import ExtractError
from elt_dagster.engine.state.history import redact_yaml
from elt_dagster.engine.transform.standardize import standardize_decimal, standardize_timestamp
from elt_dagster_tests.conftest import write


def test_decimals_with_an_exponent_are_written_out() -> None:
    values, failed = standardize_decimal(pa.array(["100000", "1e5", "1.0E5", "1.50e3", "-2E-2"]))
    assert values.to_pylist() == ["100000", "100000", "100000", "1500", "-0.02"]
    assert not any(failed.to_pylist())


def test_hour_only_timestamps_parse_the_same_in_clean_and_mixed_batches() -> None:
    clean = standardize_timestamp(pa.array(["2024-01-31T10"]))[0].to_pylist()
    mixed = standardize_timestamp(pa.array(["2024-01-31T10", "31.01.2024 10:00"]))[0].to_pylist()
    assert clean == mixed[:1] == ["2024-01-31 10:00:00"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql:///db?password=s3cret&host=/tmp",
        "host=db user=u password=s3cret dbname=x",
        "postgresql://u:s3cret@h/db",
    ],
)
def test_passwords_are_masked_in_every_connection_string_form(url: str) -> None:
    assert "s3cret" not in redact_url(url) and "***" in redact_url(url)


def test_history_masks_defaults_keys_cookies_and_headers_but_not_the_schema() -> None:
    text = redact_yaml(
        "target:\n  password: ${DB_PASSWORD:-hunter2}\n  user: ${DB_USER}\nsources:\n  - type: api\n    url: https://x\n"
        "    params:\n      key: AIza123\n      status: open\n    headers:\n      Accept: application/json\n"
        "      Cookie: session=abc\nschema:\n  columns:\n    token_count: integer\n"
    )
    for secret in ("hunter2", "AIza123", "session=abc"):
        assert secret not in text
    assert "${DB_USER}" in text and "status: open" in text and "Accept: application/json" in text
    assert "token_count: integer" in text


def test_api_sources_on_one_url_keep_separate_cursors() -> None:
    def source(**params: str) -> ApiSource:
        return ApiSource.model_validate({"type": "api", "url": "https://api.example.com/orders", "params": params})

    assert cursor_key(source(status="open")) != cursor_key(source(status="closed"))
    assert cursor_key(source(status="open")) == cursor_key(source(status="open"))


def pipeline(tmp_path: Path, extra: str = ""):
    return load_config(
        write(
            tmp_path / "configs" / "p.yaml",
            f"sources:\n  - type: local\n    path: ../data\n{extra}target:\n  table: t\n",
        )
    )


def test_source_columns_named_like_bookkeeping_columns_are_left_out(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.csv", "id,_elt_row_hash,_elt_run_id\n1,abc,old-run\n")
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging")
    assert report.columns == ["id"]


def test_a_broken_gzip_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv.gz").write_bytes(b"this is not gzip")
    with pytest.raises(ExtractError, match=r"a\.csv\.gz: can't read the file"):
        check_pipeline(pipeline(tmp_path), tmp_path / "staging")


def test_an_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError, match=r"sources\[0\]\.encoding.*unknown encoding 'utf-9'"):
        pipeline(tmp_path, "    encoding: utf-9\n")


def test_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.json").write_bytes(b'\xef\xbb\xbf[{"id": 1}, {"id": 2}]')
    with gzip.open(tmp_path / "data" / "b.json.gz", "wb") as handle:
        handle.write(b'\xef\xbb\xbf[{"id": 3}]')
    report = check_pipeline(pipeline(tmp_path, "    encoding: utf-8-sig\n"), tmp_path / "staging")
    assert report.rows_valid == 3


def test_keys_that_flatten_to_one_column_are_quarantined_not_overwritten(tmp_path: Path) -> None:
    write(tmp_path / "data" / "a.jsonl", '{"a_b": 1, "a": {"b": 2}}\n{"a_b": 3}\n')
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging", keep_rows=5)
    assert [row["a_b"] for row in report.first_rows] == ["3"]
    assert report.rejected == 1 and "a_b" in report.first_rejects[0]["reason"]


def test_text_with_a_nul_character_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_bytes(b"id,name\n1,ok\n2,bad\x00name\n")
    report = check_pipeline(pipeline(tmp_path), tmp_path / "staging", keep_rows=5)
    assert [row["name"] for row in report.first_rows] == ["ok"]
    assert "NUL" in report.first_rejects[0]["reason"]
