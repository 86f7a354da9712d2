"""Project health in the UI: the test suite's coverage, as an asset whose metadata Dagster plots over time."""

import json
import os
from pathlib import Path

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

COVERAGE_ENV = "ELT_COVERAGE_JSON"
DEFAULT_COVERAGE_JSON = ".elt/coverage.json"


def coverage_path() -> Path:
    return Path(os.environ.get(COVERAGE_ENV, DEFAULT_COVERAGE_JSON)).expanduser().resolve()


@asset(key=["project_health", "test_coverage"], group_name="project_health", kinds={"python"})
def test_coverage(context: AssetExecutionContext) -> MaterializeResult:
    """Line coverage of the test suite, read from the JSON report that `python3 dev.py coverage` writes."""
    path = coverage_path()
    try:
        report = json.loads(path.read_text())
        totals = report["totals"]
    except (OSError, ValueError, KeyError):
        raise Failure(
            description=f"no coverage report at {path}: run `python3 dev.py coverage` (or make coverage) first"
        ) from None
    files = sorted(
        ((name, data["summary"]["percent_covered"]) for name, data in report.get("files", {}).items()),
        key=lambda item: item[1],
    )
    table = "\n".join(f"| `{name}` | {percent:.1f}% |" for name, percent in files[:10])
    context.log.info(f"test coverage {totals['percent_covered']:.1f}% from {path}")
    return MaterializeResult(
        metadata={
            "percent_covered": round(float(totals["percent_covered"]), 2),
            "covered_lines": int(totals["covered_lines"]),
            "num_statements": int(totals["num_statements"]),
            "missing_lines": int(totals["missing_lines"]),
            "report": MetadataValue.path(str(path)),
            "least_covered_files": MetadataValue.md("| file | covered |\n| --- | --- |\n" + table),
        }
    )
