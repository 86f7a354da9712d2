"""The bucket walkthrough (`python3 dev.py bucket-demo`; docs/object-storage.md): a local S3-compatible server
(SeaweedFS) with bucket `samples`, loaded by the pipelines of this folder through the real Dagster commands.

1. The server starts on free local ports; a CSV, a gzipped JSON Lines file and a Parquet file go into the bucket.
2. `dagster job execute -j bucket_orders_elt` loads the three objects into one table (rows shown per object).
3. A fourth object is put; `dagster sensor preview` evaluates the source sensor as the daemon does: it requests a
   run, which the walkthrough runs; that run reads only the new object.
4. An .xlsx workbook is loaded by `bucket_payments_elt`: its date and number cells become date and numeric columns.
The server stops at the end, also on an error, Ctrl-C or SIGTERM. The tables are in database `bucket_demo` of the
embedded PostgreSQL, made anew each time. Run it with the project's venv: `.venv/bin/python examples/bucket/...`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from elt_dagster.engine.db import embedded_database_url
from elt_dagster.engine.embedded import with_database
from elt_dagster.local_s3 import Identity, S3Server, WeedProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
DATA = HERE / "data"
BUCKET = "samples"
FIRST_OBJECTS = ("orders/orders_2024_01.csv", "orders/orders_2024_02.jsonl.gz", "orders/orders_2024_03.parquet")
NEW_OBJECT = "orders/orders_2024_04.csv"
WORKBOOK = "sheets/payments.xlsx"
DATABASE = "bucket_demo"
ACCESS_KEY = "bucket-demo"
RUN_CONFIG = "loggers:\n  console:\n    config:\n      log_level: INFO\n"
"""Dagster's console at INFO: the load step's summary lines (what was read, inserted), not its DEBUG events."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def put(server: S3Server, key: str) -> None:
    """Copy a sample file of data/ into the bucket as `key`."""
    body = (DATA / Path(key).name).read_bytes()
    server.put(f"{BUCKET}/{key}", body)
    print(f"put s3://{BUCKET}/{key} ({len(body)} bytes)", flush=True)


def fresh_database() -> str:
    """Database `bucket_demo` of the embedded PostgreSQL (started if need be), dropped and made again: its URL."""
    server_url = embedded_database_url()
    with psycopg.connect(server_url, autocommit=True) as conn:
        name = sql.Identifier(DATABASE)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return with_database(server_url, DATABASE)


def child_env(server: S3Server, secret_key: str, database_url: str) -> dict[str, str]:
    """The environment of the Dagster and elt-dagster commands: this folder's pipelines, their database, and the
    `${VAR}`s their YAML reads (the server's address and keys; the secret key is printed nowhere)."""
    return {
        **os.environ,
        "ELT_CONFIG_DIR": str(HERE),
        "ELT_DATABASE_URL": database_url,
        "BUCKET_DEMO_ENDPOINT_URL": server.endpoint_url,
        "BUCKET_DEMO_ACCESS_KEY_ID": ACCESS_KEY,
        "BUCKET_DEMO_SECRET_ACCESS_KEY": secret_key,
        "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore"),
    }


def command(args: list[str], env: dict[str, str]) -> str:
    """Run a command of the venv, showing it; its output (stdout and stderr), or exit with it when it fails."""
    print(f"$ {shlex.join(args)}", flush=True)
    done = subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if done.returncode:
        print(done.stdout, flush=True)
        raise SystemExit(f"`{shlex.join(args)}` exited with {done.returncode}")
    return done.stdout


def run_job(job: str, env: dict[str, str], run_config: Path, tags: dict[str, str] | None = None) -> None:
    """`dagster job execute` of `job`: the load step's summary lines are shown (Dagster's prefixes cut off)."""
    args = ["dagster", "job", "execute", "-m", "elt_dagster", "-j", job, "-c", str(run_config)]
    output = command([*args, "--tags", json.dumps(tags)] if tags else args, env)
    for line in output.splitlines():
        if f" - {job}_step - " in line:
            print("  " + line.split(f" - {job}_step - ", 1)[1], flush=True)


def preview_sensor(sensor: str, env: dict[str, str]) -> int:
    """`dagster sensor preview`: one evaluation of the sensor, as the daemon's tick does; how many runs it requests."""
    output = command(["dagster", "sensor", "preview", sensor, "-m", "elt_dagster"], env)
    for line in output.splitlines():
        if "dagster.code_server" not in line and line.strip() and line.strip() != "{}":
            print("  " + line.split(f" - {sensor} - ", 1)[-1], flush=True)
    requested = re.search(r"returning run requests for (\d+) run", output)
    return int(requested[1]) if requested else 0


def rows_per_run_and_object(database_url: str) -> None:
    """Where the rows of table `orders` came from: each run (its id's first 8 characters) and object."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT _elt_run_id, _elt_source, count(*) FROM public.orders "
            "GROUP BY _elt_run_id, _elt_source ORDER BY min(_elt_loaded_at), _elt_source"
        ).fetchall()
    print("public.orders, rows per run and object:")
    for run_id, source, count in rows:
        print(f"  run {run_id[:8]}  {source:<45} {count} rows")


def column_types(database_url: str, table: str) -> None:
    """The PostgreSQL types of `table`'s loaded columns (not the _elt_ bookkeeping columns)."""
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s AND column_name NOT LIKE '\\_elt\\_%%' "
            "ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    print(f"public.{table}'s column types: " + ", ".join(f"{name} {kind}" for name, kind in columns))


def load_the_bucket(server: S3Server, env: dict[str, str], run_config: Path) -> None:
    """Steps 1 and 2: three objects of three formats into one table."""
    server.filesystem().create_dir(BUCKET)
    for key in FIRST_OBJECTS:
        put(server, key)
    heading("2. Load the bucket into one table (examples/bucket/bucket_orders.yaml)")
    run_job("bucket_orders_elt", env, run_config)
    rows_per_run_and_object(env["ELT_DATABASE_URL"])


def new_object_and_sensor(server: S3Server, env: dict[str, str], run_config: Path) -> None:
    """Step 3: the source sensor skips while nothing changed, requests a run for a new object; the run reads it."""
    heading("3. A new object in the bucket: the source sensor requests a run that reads only it")
    preview_sensor("bucket_orders_source_sensor", env)
    put(server, NEW_OBJECT)
    if preview_sensor("bucket_orders_source_sensor", env) != 1:
        raise SystemExit("the source sensor requested no run for the new object")
    print("The requested run, launched as the daemon would (with the tag Dagster gives a sensor's runs):")
    run_job("bucket_orders_elt", env, run_config, {"dagster/sensor_name": "bucket_orders_source_sensor"})
    rows_per_run_and_object(env["ELT_DATABASE_URL"])


def load_the_workbook(server: S3Server, env: dict[str, str], run_config: Path) -> None:
    """Step 4: an .xlsx sheet whose date and number cells load as date and numeric columns."""
    heading("4. An Excel workbook: date cells load as dates, number cells as numbers (bucket_payments.yaml)")
    put(server, WORKBOOK)
    run_job("bucket_payments_elt", env, run_config)
    print(command(["elt-dagster", "preview", "bucket_payments"], env), end="")
    column_types(env["ELT_DATABASE_URL"], "payments")


def walkthrough(work: Path) -> None:
    """The four steps on a server in `work/s3`; the server is stopped whatever happens."""
    secret_key = secrets.token_hex(16)
    heading("1. A local S3-compatible server (SeaweedFS) with bucket `samples`")
    weed = WeedProcess(work / "s3", [Identity("demo", ACCESS_KEY, secret_key)])
    try:
        server = weed.start()
        print(f"S3 API on {server.endpoint_url}; access key {ACCESS_KEY}, a secret key made for this run")
        database_url = fresh_database()
        env = child_env(server, secret_key, database_url)
        run_config = work / "run.yaml"
        run_config.write_text(RUN_CONFIG)
        load_the_bucket(server, env, run_config)
        new_object_and_sensor(server, env, run_config)
        load_the_workbook(server, env, run_config)
    finally:
        for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the stop short
            signal.signal(signum, signal.SIG_IGN)
        weed.stop()
        print("\nThe S3 server stopped.", flush=True)
    print(f"The tables stay in database {DATABASE} of the embedded PostgreSQL (`python3 dev.py db stop` stops it).")


def stop_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM or SIGHUP end the walkthrough as Ctrl-C does: through `walkthrough`'s finally, which stops the server."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    os.chdir(ROOT)  # the embedded PostgreSQL is the checkout's (.elt/postgres), wherever this is started from
    work = Path(tempfile.mkdtemp(prefix="elt-bucket-demo-"))
    try:
        (work / "s3").mkdir()
        walkthrough(work)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # the server did not start: `weed` missing, or its log's end
        print(f"bucket-demo: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
