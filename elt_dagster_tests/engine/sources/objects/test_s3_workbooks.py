"""Workbooks in a bucket take the sheet keys (`sheet`, `header_row`, `range`) as local files do, on a real
S3-compatible server: the named sheet is read from its header row, and the keys on other objects are refused."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.run import run_pipeline
from elt_dagster.engine.sources.objects.s3 import S3Source
from elt_dagster_tests.conftest import fetch
from elt_dagster_tests.engine.sources.files.workbooks import write_xlsx
from elt_dagster_tests.engine.sources.objects.test_s3 import bucket, csv_body, put, s3_env
from elt_dagster_tests.s3_server import S3Server

__all__ = ["bucket", "s3_env"]  # fixtures used here

SHEETS = {
    "Notes": [["not", "this"], [1, 2]],
    "Payments": [
        ["Payments export"],
        [],
        ["paid_on", "amount"],
        [dt.date(2024, 2, 29), 12.5],
        [dt.date(2024, 3, 1), 3],
    ],
}


def pipeline_yaml(server: S3Server, url: str, sheet_keys: str) -> str:
    keys = "".join(f"            {line}\n" for line in sheet_keys.splitlines())
    return f"""
        sources:
          - type: s3
            url: {url}
            endpoint_url: {server.endpoint_url}
            access_key_id: ${{S3_KEY}}
            secret_access_key: ${{S3_SECRET}}
{keys}        target:
          table: payments
          db_schema: {{schema}}
        schema:
          columns:
            paid_on: date
            amount: decimal
        """


def test_a_workbook_object_is_read_by_its_sheet_keys(
    s3_env: S3Server, bucket: str, tmp_path: Path, make_pipeline, database_url: str, db_schema: str
) -> None:
    workbook = write_xlsx(tmp_path / "payments.xlsx", SHEETS)
    put(s3_env, bucket, "in/payments.xlsx", workbook.read_bytes())
    loaded = make_pipeline(pipeline_yaml(s3_env, f"s3://{bucket}/in/", "sheet: Payments\nheader_row: 3"))
    report = run_pipeline(loaded)
    assert (report.inserted, report.rejected) == (2, 0)
    rows = fetch(database_url, f'SELECT paid_on, amount::text, _elt_source FROM "{db_schema}".payments ORDER BY 1')
    url = f"s3://{bucket}/in/payments.xlsx"
    assert rows == [(dt.date(2024, 2, 29), "12.5", url), (dt.date(2024, 3, 1), "3", url)]


def test_sheet_keys_on_other_objects_are_refused(
    s3_env: S3Server, bucket: str, make_pipeline, database_url: str
) -> None:
    with pytest.raises(ValidationError, match=r"for workbooks .* only; .*a\.csv' names other files"):
        S3Source(type="s3", url=f"s3://{bucket}/in/a.csv", sheet="Payments")
    put(s3_env, bucket, "in/a.csv", csv_body([(1, "one")]))  # a prefix: refused when such an object is read
    loaded = make_pipeline(pipeline_yaml(s3_env, f"s3://{bucket}/in/", "sheet: Payments"))
    with pytest.raises(PipelineError, match=re.escape(f"s3://{bucket}/in/a.csv")) as error:
        run_pipeline(loaded)
    assert "\n" not in str(error.value)
