"""(n) SCD2 and (o) snapshot deletes (issue 24), each against raw COPY of the same 1M-row file, in one run.

    .venv/bin/python bench/run.py --only history [--rows 1000000] [--repeat 3]

(n): a fresh table in `mode: scd2` (key `id`) loaded from the 1M file (timed apart: the scd2 first load), then the
same rows with 20% changed (`generate_changed`, as (h)) into it: the line, the report's seconds. Then the changed
file again (`full_refresh`): it must add nothing.
(o): a fresh merge table loaded from a `snapshot: true` source over the 1M file, then a second snapshot pipeline (a
folder of its own) whose file lacks every 20th row (5% of the keys) into it: the line. Soft deletes (the default)
and, beside them, hard. Each pass runs raw COPY, (n), (o) soft and (o) hard, a checkpoint before each measurement;
the figures are the passes' medians.
"""

from __future__ import annotations

import statistics
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from generate import generate_changed
from users import checkpoint

from elt_dagster.engine.config import parse_config
from elt_dagster.engine.run import RunReport, run_pipeline

DROP_EVERY = 20
"""The snapshot file lacks every 20th data row: ids 20, 40, ... (5% of the keys)."""


def pipeline(
    folder: Path,
    table: str,
    columns: dict[str, str],
    name: str,
    mode: str,
    snapshot: bool = False,
    delete: str = "soft",
):
    """A pipeline over `folder` into `table` in `mode`, keyed on `id`; `snapshot`: its source is a snapshot."""
    declared = "\n".join(f"    {column}: {type_name}" for column, type_name in columns.items())
    source = "    snapshot: true\n" if snapshot else ""
    text = (
        f"sources:\n  - path: {folder}\n{source}target:\n  table: {table}\n  mode: {mode}\n  primary_key: [id]\n"
        f"  delete: {delete}\nschema:\n  columns:\n{declared}\n"
    )
    return parse_config(text, folder.parent / f"{name}.yaml")


def read_text(path: Path, columns: dict[str, str], **options) -> pa.Table:
    """The CSV as text columns (quoted fields with newlines kept whole: not split by line)."""
    return pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string()), **options),
    )


def write_snapshot(path: Path, source: Path, columns: dict[str, str]) -> Path:
    """The rows of `source` but every `DROP_EVERY`th, unless there."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    table = read_text(source, columns)
    kept = pa.array(np.arange(1, table.num_rows + 1) % DROP_EVERY != 0)  # data row i (from 1) holds id i
    partial = path.with_suffix(".partial")
    pacsv.write_csv(table.filter(kept), str(partial))
    partial.rename(path)
    return path


def drop(url: str, table: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}, {table}__rejected CASCADE")  # and the _current view
        conn.execute("DELETE FROM elt.file_fingerprints WHERE pipeline LIKE %s", (f"{table}%",))
        conn.execute("DELETE FROM elt.table_row_counts WHERE table_name = %s", (f"public.{table}",))


def timed_load(url: str, loaded, **options) -> RunReport:
    checkpoint(url)
    return run_pipeline(loaded, database_url=url, **options)


def scd2_pass(url: str, folder: Path, changed: Path, columns: dict[str, str], rows: int, changes: int) -> dict:
    """(n): see the module docstring."""
    table = f"scd2_{uuid.uuid4().hex[:8]}"
    first = timed_load(url, pipeline(folder, table, columns, f"{table}_first", "scd2"))
    again_config = pipeline(changed.parent, table, columns, f"{table}_n", "scd2")
    second = timed_load(url, again_config)
    again = run_pipeline(again_config, database_url=url, full_refresh=True)
    with psycopg.connect(url) as conn:
        total, closed = conn.execute(f"SELECT count(*), count(_elt_valid_to) FROM {table}").fetchone()
        current = conn.execute(f"SELECT count(*) FROM {table}_current").fetchone()[0]
        changed_current = conn.execute(f"SELECT count(*) FROM {table}_current WHERE note = 'changed since'").fetchone()
    drop(url, table)
    checks = {
        "scd2_first_inserted_all": first.inserted == rows and first.updated == 0,
        "scd2_updated_changed": second.updated == changes and second.inserted == 0 and second.deleted == 0,
        "scd2_versions": total == rows + changes and closed == changes and changed_current[0] == changes,
        "scd2_current_view_rows": current == rows,
        "scd2_reload_adds_nothing": again.inserted == 0 and again.updated == 0,
    }
    return {
        "first": first.seconds,
        "n": second.seconds,
        "reload": again.seconds,
        "strategies": [first.strategy, second.strategy, again.strategy],
        "checks": checks,
    }


def snapshot_pass(url: str, folder: Path, snapshot: Path, columns: dict[str, str], rows: int, delete: str) -> dict:
    """(o), with `delete` soft or hard: see the module docstring."""
    table = f"snap_{uuid.uuid4().hex[:8]}"
    first = timed_load(url, pipeline(folder, table, columns, f"{table}_first", "merge", True, delete))
    report = timed_load(url, pipeline(snapshot.parent, table, columns, f"{table}_o", "merge", True, delete))
    live = "WHERE _elt_deleted_at IS NULL" if delete == "soft" else ""
    with psycopg.connect(url) as conn:
        total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        remaining = conn.execute(f"SELECT count(*) FROM {table} {live}").fetchone()[0]
        wrong = conn.execute(f"SELECT count(*) FROM {table} WHERE id % {DROP_EVERY} = 0 {live.replace('WHERE', 'AND')}")
        wrong = wrong.fetchone()[0]
    drop(url, table)
    dropped = rows // DROP_EVERY
    checks = {
        f"snapshot_{delete}_first_inserted_all": first.inserted == rows and first.deleted == 0,
        f"snapshot_{delete}_deleted_dropped": report.deleted == dropped and report.inserted == report.updated == 0,
        f"snapshot_{delete}_live_rows": remaining == rows - dropped and wrong == 0,
        f"snapshot_{delete}_rows_kept": total == (rows if delete == "soft" else rows - dropped),
    }
    return {
        "first": first.seconds,
        "o": report.seconds,
        "strategies": [first.strategy, report.strategy],
        "checks": checks,
    }


def history(url: str, data: Path, csv_path: Path, columns: dict[str, str], raw_copy, rows: int, repeat: int) -> dict:
    """(n) and (o), interleaved with raw COPY `repeat` times: the medians, every pass and the checks."""
    folder = csv_path.parent
    changed = generate_changed(data / f"{folder.name}_changed" / "orders_changed.csv", csv_path)
    snapshot = write_snapshot(data / f"{folder.name}_snapshot" / "orders_snapshot.csv", csv_path, columns)
    notes = read_text(changed, columns, include_columns=["note"]).column("note")
    changes = pc.sum(pc.equal(notes, "changed since")).as_py()
    passes, checks = [], {}
    for _ in range(repeat):
        one = {"raw": raw_copy(url, csv_path), "n": scd2_pass(url, folder, changed, columns, rows, changes)}
        one |= {f"o_{mode}": snapshot_pass(url, folder, snapshot, columns, rows, mode) for mode in ("soft", "hard")}
        for line in ("n", "o_soft", "o_hard"):
            for key, passed in one[line].pop("checks").items():
                checks[key] = checks.get(key, True) and passed
        passes.append(one)
    medians = {"raw": statistics.median(p["raw"] for p in passes)}
    for line, keys in (("n", ("first", "n", "reload")), ("o_soft", ("first", "o")), ("o_hard", ("first", "o"))):
        medians[line] = {key: statistics.median(p[line][key] for p in passes) for key in keys}
    strategies = {line: passes[0][line]["strategies"] for line in ("n", "o_soft", "o_hard")}
    return {
        "rows": rows,
        "changed_rows": changes,
        "dropped_rows": rows // DROP_EVERY,
        "medians": medians,
        "passes": passes,
        "strategies": strategies,
        "checks": checks,
    }


def history_lines(result: dict) -> list[str]:
    """(n) and (o) as printed by the benchmark."""
    m, s = result["medians"], result["strategies"]
    raw = m["raw"]
    n, soft, hard = m["n"], m["o_soft"], m["o_hard"]
    per_pass = ", ".join(f"{p['raw'] / p['n']['n']:.2f}x/{p['raw'] / p['o_soft']['o']:.2f}x" for p in result["passes"])
    return [
        f"raw COPY of {result['rows']:,} rows: {raw:.2f} s",
        f"(n) scd2, {result['changed_rows']:,} rows changed: {n['n']:.2f} s ({raw / n['n']:.2f}x, {s['n'][1]}); "
        f"scd2 first load {n['first']:.2f} s ({raw / n['first']:.2f}x, {s['n'][0]}); the same file again "
        f"{n['reload']:.2f} s",
        f"(o) snapshot lacking {result['dropped_rows']:,} keys, soft: {soft['o']:.2f} s ({raw / soft['o']:.2f}x, "
        f"{s['o_soft'][1]}); hard: {hard['o']:.2f} s ({raw / hard['o']:.2f}x); first loads {soft['first']:.2f} s / "
        f"{hard['first']:.2f} s ({s['o_soft'][0]})",
        f"    per pass ((n), (o) soft vs raw COPY): {per_pass}",
    ]
