"""Project health in the UI: the test suite's coverage, plotted over time.

`project_health/test_coverage` is an external asset (an `AssetSpec`): nothing in Dagster computes it, so it is never
part of "Materialize all" and never fails. `coverage_sensor` records a materialisation each time
`python3 dev.py coverage` writes a new report; until there is one the asset stays grey and the sensor's ticks say
how to make it.
"""

import json
import os
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

COVERAGE_ENV = "ELT_COVERAGE_JSON"
DEFAULT_COVERAGE_JSON = ".elt/coverage.json"
COVERAGE_KEY = AssetKey(["project_health", "test_coverage"])
COVERAGE_SENSOR_SECONDS = 30
NO_REPORT = "no coverage report yet at {path}: run `python3 dev.py coverage` (or make coverage)"

coverage_asset = AssetSpec(
    COVERAGE_KEY,
    group_name="project_health",
    kinds={"python"},
    description="Line coverage of the test suite, recorded by coverage_sensor from the JSON report that "
    "`python3 dev.py coverage` writes (no report yet: run it). Not computed by Dagster: the Plots tab shows the "
    "figures over time.",
)


def coverage_path() -> Path:
    """The coverage JSON report: env ELT_COVERAGE_JSON, default .elt/coverage.json."""
    return Path(os.environ.get(COVERAGE_ENV, DEFAULT_COVERAGE_JSON)).expanduser().resolve()


def coverage_materialization(path: Path) -> AssetMaterialization:
    """The report at `path` as a materialisation of `project_health/test_coverage`; raises on a report that
    can't be read (OSError, ValueError, KeyError, TypeError)."""
    report = json.loads(path.read_text())
    totals = report["totals"]
    files = sorted(
        ((name, data["summary"]["percent_covered"]) for name, data in report.get("files", {}).items()),
        key=lambda item: item[1],
    )
    table = "\n".join(f"| `{name}` | {percent:.1f}% |" for name, percent in files[:10])
    return AssetMaterialization(
        asset_key=COVERAGE_KEY,
        description=f"test coverage {totals['percent_covered']:.1f}% from {path}",
        metadata={
            "percent_covered": round(float(totals["percent_covered"]), 2),
            "covered_lines": int(totals["covered_lines"]),
            "num_statements": int(totals["num_statements"]),
            "missing_lines": int(totals["missing_lines"]),
            "report": MetadataValue.path(str(path)),
            "least_covered_files": MetadataValue.md("| file | covered |\n| --- | --- |\n" + table),
        },
    )


@sensor(
    name="coverage_sensor",
    minimum_interval_seconds=COVERAGE_SENSOR_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Records project_health/test_coverage each time `python3 dev.py coverage` writes a new report "
    "(stat only, every 30 s).",
)
def coverage_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    """A materialisation per new coverage report; the cursor is the report's modification time and size."""
    path = coverage_path()
    try:
        stat = path.stat()
    except OSError:
        return SkipReason(NO_REPORT.format(path=path))
    cursor = f"{stat.st_mtime_ns}:{stat.st_size}"
    if cursor == context.cursor:
        return SkipReason(f"the coverage report at {path} has not changed")
    try:
        event = coverage_materialization(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return SkipReason(f"the coverage report at {path} can't be read ({exc!r}): run `python3 dev.py coverage`")
    return SensorResult(asset_events=[event], cursor=cursor)
