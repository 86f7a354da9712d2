"""(p) Parquet, (q) the 1M-row CSV from a bucket, (r) peak RSS of a ~2 GB object (issue 25), in one run.

    .venv/bin/python bench/run.py --only sources [--rows 1000000] [--repeat 3] [--big-gb 2]

Each pass, a checkpoint before each load: raw COPY (a); (b) the CSV's first load; (p) the same rows as one Parquet
file (each column its declared type, 128k-row row groups), checked equal to (b)'s table both ways; (q) the CSV as an
object of SeaweedFS (elt_dagster/local_s3.py) by a `type: s3` source (the download included); medians. Then
(r): the CSV's data rows repeated, ids shifted (every row distinct), streamed to a ~2 GB object and loaded by a fresh
process: its peak RSS (VmHWM). Then each reader alone, for where (p)'s time goes.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from history import drop, read_text
from pyarrow.fs import S3FileSystem, copy_files
from users import checkpoint

from elt_dagster.engine.config import parse_config
from elt_dagster.engine.run import RunReport, run_pipeline
from elt_dagster.engine.sources.files.extract import conform, iter_file_batches, list_source_files, new_mapper
from elt_dagster.engine.sources.files.parquet import as_text
from elt_dagster.engine.sources.files.readers import BATCH_ROWS
from elt_dagster.engine.staging import StagingWriter
from elt_dagster.engine.transform.validate import check_batch, pipeline_column_types
from elt_dagster.local_s3 import Identity, S3Server, WeedProcess

ROOT = Path(__file__).resolve().parents[1]
ROW_GROUP_ROWS = 128 * 1024
ARROW_TYPES = {"bigint": pa.int64(), "integer": pa.int32(), "string": pa.string(), "decimal": pa.decimal128(12, 2)}
ARROW_TYPES |= {"float": pa.float64(), "timestamp": pa.timestamp("s"), "boolean": pa.bool_()}
BUCKET = "elt-bench"
KEY_ENV, SECRET_ENV = "ELT_BENCH_S3_KEY", "ELT_BENCH_S3_SECRET"


def write_parquet(path: Path, csv_path: Path, columns: dict[str, str]) -> Path:
    """The CSV's rows as one Parquet file, each column its declared type, unless there."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    types = {name: ARROW_TYPES[kind] for name, kind in columns.items()}
    table = pacsv.read_csv(
        csv_path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=types),
    )
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial, row_group_size=ROW_GROUP_ROWS)
    partial.rename(path)
    return path


def pipeline_text(source: str, table: str, columns: dict[str, str]) -> str:
    """A first-load pipeline (append) of `source` (its YAML lines) into `table`, the declared schema."""
    declared = "\n".join(f"    {column}: {type_name}" for column, type_name in columns.items())
    return f"sources:\n{source}target:\n  table: {table}\nschema:\n  columns:\n{declared}\n"


def pipeline(source: str, table: str, columns: dict[str, str], folder: Path):
    return parse_config(pipeline_text(source, table, columns), folder / f"{table}.yaml")


def local_source(folder: Path) -> str:
    return f"  - type: local\n    path: {folder}\n"


def s3_source(server: S3Server, url: str) -> str:
    """The source's keys come from the environment, as a user's would."""
    return (
        f"  - type: s3\n    url: {url}\n    endpoint_url: {server.endpoint_url}\n    region: us-east-1\n"
        f"    access_key_id: ${{{KEY_ENV}}}\n    secret_access_key: ${{{SECRET_ENV}}}\n"
    )


def timed_load(url: str, loaded) -> RunReport:
    checkpoint(url)
    return run_pipeline(loaded, database_url=url)


def differences(url: str, first: str, second: str, columns: dict[str, str]) -> tuple[int, int, int]:
    """Rows of `first` not in `second` and the other way on the business columns (`EXCEPT ALL`), and the row hashes
    of `first` not in `second` (0: a row read from Parquet dedups against the same row read from CSV)."""
    query = "SELECT count(*) FROM (SELECT {0} FROM {1} EXCEPT ALL SELECT {0} FROM {2}) d"
    names = ", ".join(columns)
    pairs = ((names, first, second), (names, second, first), ("_elt_row_hash", first, second))
    with psycopg.connect(url) as conn:
        return tuple(conn.execute(query.format(*pair)).fetchone()[0] for pair in pairs)


def one_pass(url: str, raw_copy, csv_path: Path, parquet: Path, server: S3Server, columns: dict, rows: int) -> dict:
    """Raw COPY, then (b), (p) and (q) each into a fresh table: their seconds and checks."""
    tag = uuid.uuid4().hex[:8]
    folder = parquet.parent.parent
    seconds = {"raw": raw_copy(url, csv_path)}
    lines = {"b": local_source(csv_path.parent), "p": local_source(parquet.parent)}
    lines["q"] = s3_source(server, f"s3://{BUCKET}/orders.csv")
    loads = {line: pipeline(source, f"src_{line}_{tag}", columns, folder) for line, source in lines.items()}
    reports = {line: timed_load(url, loaded) for line, loaded in loads.items()}
    seconds |= {line: report.seconds for line, report in reports.items()}
    missing, extra, other_hashes = differences(url, f"src_b_{tag}", f"src_p_{tag}", columns)
    for line in loads:
        drop(url, f"src_{line}_{tag}")
    checks = {f"{line}_inserted_all": reports[line].inserted == rows for line in loads}
    checks["p_equals_csv_load"] = missing == extra == 0
    strategies = {line: report.strategy for line, report in reports.items()}
    return {"seconds": seconds, "strategies": strategies, "same_row_hashes": other_hashes == 0, "checks": checks}


def write_big_object(server: S3Server, key: str, csv_path: Path, columns: dict, target_bytes: int) -> dict:
    """The CSV's data rows again and again, ids shifted by the rows written so far, streamed to the object."""
    table = read_text(csv_path, columns)
    ids = pc.cast(table.column("id"), pa.int64())
    repeats = math.ceil(target_bytes / csv_path.stat().st_size)
    # pyarrow uploads parts in the background by default: when the store is slower than the writer, every part
    # waits in memory (a 0.6 GB object took the writer from 113 MB to 687 MB); without, one part at a time
    options = {"access_key": server.access_key, "secret_key": server.secret_key, "region": "us-east-1"}
    store = S3FileSystem(endpoint_override=server.endpoint, scheme="http", background_writes=False, **options)
    stream = store.open_output_stream(f"{BUCKET}/{key}", compression=None)
    with stream, pacsv.CSVWriter(stream, table.schema) as writer:
        for n in range(repeats):
            writer.write_table(table.set_column(0, "id", pc.cast(pc.add(ids, n * table.num_rows), pa.string())))
    size = server.filesystem().get_file_info(f"{BUCKET}/{key}").size
    return {"rows": repeats * table.num_rows, "bytes": size}


CHILD = """
import sys
from pathlib import Path
from elt_dagster.engine.config import parse_config
from elt_dagster.engine.run import run_pipeline
path = Path(sys.argv[1])
report = run_pipeline(parse_config(path.read_text(), path), database_url=sys.argv[2])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(report.inserted, report.seconds, peak_kb)
"""


def big_object_run(url: str, server: S3Server, csv_path: Path, columns: dict, target_bytes: int) -> dict:
    """(r): see the module docstring."""
    written = write_big_object(server, "big/orders_big.csv", csv_path, columns, target_bytes)
    table = f"src_r_{uuid.uuid4().hex[:8]}"
    config = Path(tempfile.mkdtemp(prefix="elt-bench-big-")) / f"{table}.yaml"
    config.write_text(pipeline_text(s3_source(server, f"s3://{BUCKET}/big/orders_big.csv"), table, columns))
    checkpoint(url)
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, config, url], cwd=ROOT, check=True, capture_output=True)
    finally:
        shutil.rmtree(config.parent, ignore_errors=True)
    inserted, seconds, peak_kb = done.stdout.decode().split()[-3:]
    drop(url, table)
    server.filesystem().delete_file(f"{BUCKET}/big/orders_big.csv")
    written["checks"] = {"r_inserted_rows_written": int(inserted) == written["rows"]}
    return written | {"inserted": int(inserted), "seconds": float(seconds), "peak_rss_mb": int(peak_kb) / 1024}


def reader_seconds(csv_path: Path, parquet: Path, columns: dict[str, str]) -> dict:
    """Each reader alone over the 1M rows, and standardising what it read: where (p)'s time goes."""
    started, text = time.perf_counter(), 0.0
    for batch in pq.ParquetFile(parquet, buffer_size=1 << 20).iter_batches(batch_size=BATCH_ROWS):
        text_started = time.perf_counter()
        [as_text(column) for column in batch.columns]
        text += time.perf_counter() - text_started
    result = {"parquet_typed_batches": time.perf_counter() - started - text, "parquet_as_text": text}
    for fmt, path in (("csv", csv_path), ("parquet", parquet)):
        loaded = pipeline(local_source(path.parent), "readers", columns, path.parent.parent)
        files, _ = list_source_files(loaded)
        mapper = new_mapper(loaded, files)
        types = pipeline_column_types(loaded, mapper.columns)
        result[f"{fmt}_read"], result[f"{fmt}_standardise"] = read_and_standardise(files[0], mapper, types)
    return result


def read_and_standardise(source_file, mapper, types: dict[str, str]) -> tuple[float, float]:
    """Seconds to read the file's batches, and to standardise and hash them (`check_batch`), each timed alone."""
    read = standardise = 0.0
    batches = iter_file_batches(source_file)
    with tempfile.TemporaryDirectory() as folder, StagingWriter(Path(folder), mapper.columns) as staging:
        while True:
            started = time.perf_counter()
            raw = next(batches, None)
            read += time.perf_counter() - started
            if raw is None:
                return read, standardise
            table = conform(raw, mapper, str(source_file.path), staging.schema)
            started = time.perf_counter()
            check_batch(table, types, [])
            standardise += time.perf_counter() - started


def sources(url: str, data: Path, csv_path: Path, columns: dict, raw_copy, rows: int, repeat: int, big_gb: float):
    """(p), (q) interleaved with raw COPY `repeat` times, then (r) and the readers: medians, passes and checks."""
    parquet = write_parquet(data / f"{csv_path.parent.name}_parquet" / "orders.parquet", csv_path, columns)
    process = WeedProcess(
        Path(tempfile.mkdtemp(prefix="elt-bench-s3-")), [Identity("bench", "elt-bench", secrets.token_hex(16))]
    )
    server = process.start()
    try:
        os.environ[KEY_ENV], os.environ[SECRET_ENV] = server.access_key, server.secret_key
        server.filesystem().create_dir(BUCKET)
        copy_files(str(csv_path), f"{BUCKET}/orders.csv", destination_filesystem=server.filesystem())
        passes = [one_pass(url, raw_copy, csv_path, parquet, server, columns, rows) for _ in range(repeat)]
        big = big_object_run(url, server, csv_path, columns, int(big_gb * 1e9))
    finally:
        process.stop()
    checks = {key: all(p["checks"][key] for p in passes) for key in passes[0]["checks"]} | big.pop("checks")
    return {
        "rows": rows,
        "parquet_bytes": parquet.stat().st_size,
        "csv_bytes": csv_path.stat().st_size,
        "medians": {line: statistics.median(p["seconds"][line] for p in passes) for line in ("raw", "b", "p", "q")},
        "passes": passes,
        "strategies": passes[0]["strategies"],
        "same_row_hashes": all(p["same_row_hashes"] for p in passes),
        "big_object": big,
        "readers": reader_seconds(csv_path, parquet, columns),
        "checks": checks,
    }


def sources_lines(result: dict) -> list[str]:
    """(p), (q), (r) as printed by the benchmark."""
    m, big, r = result["medians"], result["big_object"], result["readers"]
    raw = m["raw"]
    ratios = ("/".join(f"{p['seconds']['raw'] / p['seconds'][x]:.2f}x" for x in "bpq") for p in result["passes"])
    return [
        f"raw COPY of {result['rows']:,} rows ({result['csv_bytes'] / 1e6:.0f} MB CSV): {raw:.2f} s",
        f"(b) CSV first load {m['b']:.2f} s ({raw / m['b']:.2f}x); (p) Parquet first load ({result['parquet_bytes'] / 1e6:.0f}"
        f" MB) {m['p']:.2f} s ({raw / m['p']:.2f}x); the same row hashes: {result['same_row_hashes']}",
        f"(q) the CSV from a bucket {m['q']:.2f} s ({raw / m['q']:.2f}x), strategies {result['strategies']}",
        f"    per pass ((b)/(p)/(q) vs raw COPY): {', '.join(ratios)}",
        f"(r) a {big['bytes'] / 1e9:.2f} GB object, {big['rows']:,} rows: {big['inserted']:,} inserted in "
        f"{big['seconds']:.1f} s, peak RSS {big['peak_rss_mb']:.0f} MB",
        f"readers alone: CSV read {r['csv_read']:.2f} s + standardise {r['csv_standardise']:.2f} s; Parquet read "
        f"{r['parquet_read']:.2f} s (typed batches {r['parquet_typed_batches']:.2f} s, as text "
        f"{r['parquet_as_text']:.2f} s) + standardise {r['parquet_standardise']:.2f} s",
    ]
