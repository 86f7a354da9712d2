"""Rows per second of a backfill through Dagster's own machinery, at 1 and 2 concurrent runs of the table.

    .venv/bin/python bench/backfill.py [--repeat N]

Runs the deployment test `elt_dagster_tests/deployment/test_backfill.py` (a code server, a webserver and the daemon
as processes, PostgreSQL instance storage, the queued run coordinator; 100 daily partitions, 99 of 1,000 rows and
one of 300,000, as one asset backfill of 10 runs of 10 days) for `concurrent_runs` 1 and 2, and reads the figure
each prints: all rows over the time from the first run's start to the last run's end. Each run also checks its
rows (each day's exactly once) and its overlaps (at most `concurrent_runs` loads at once). Prints the figures (and
each run's load step seconds) as JSON and writes them to bench/results/backfill.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "elt_dagster_tests/deployment/test_backfill.py::test_one_backfill_of_100_days_loads_each_day_once"
FIGURE = re.compile(
    r"backfill of ([\d,]+) rows, concurrent_runs (\d+): ([\d.]+) s, [\d,]+ rows/s; load steps (\[.*\]) s"
)


def measure() -> list[dict[str, float | str]]:
    """One pass of the test, both parameters; its printed figures."""
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-k", TEST.split("::")[1]]
    done = subprocess.run([*command, TEST.split("::")[0]], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the backfill test failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return [
        {"rows": int(rows.replace(",", "")), "concurrent_runs": int(runs), "seconds": float(seconds), "steps": steps}
        for rows, runs, seconds, steps in FIGURE.findall(done.stdout)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="passes of the test (each both parameters)")
    args = parser.parse_args()
    figures = [figure for _ in range(args.repeat) for figure in measure()]
    for figure in figures:
        figure["rows_per_second"] = round(float(figure["rows"]) / float(figure["seconds"]))
    results = ROOT / "bench" / "results" / "backfill.json"
    results.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
