#!/usr/bin/env python3
"""Project tasks with nothing but Python 3.11+: creates .venv, installs the project, runs things.

python3 dev.py demo    run the sample pipeline on the embedded PostgreSQL and show what was loaded
python3 dev.py test    run the test suite
python3 dev.py dev     start the Dagster UI and daemon (dagster dev) on http://127.0.0.1:3000
python3 dev.py viewer  a read-only Dagster UI on http://127.0.0.1:3001
python3 dev.py db stop stop the embedded PostgreSQL (also: start, status, url)
python3 dev.py bench   the load benchmark (see bench/README.md)
python3 dev.py coverage  the tests with coverage (feeds the project_health/test_coverage asset)
python3 dev.py lint    ruff format --check and ruff check
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".elt-installed"
DAGSTER_HOME = ROOT / ".elt" / "dagster"


def ensure_venv() -> None:
    """Create .venv and install the project (editable, with dev tools) when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on the system Python
        sys.exit(f"elt-dagster needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing elt-dagster and its dependencies into .venv ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


def dagster_env() -> dict[str, str]:
    """The environment for Dagster commands: a persistent DAGSTER_HOME whose instance storage is PostgreSQL.

    The instance settings are dagster.yaml (ELT_INSTANCE_STORAGE=sqlite: dagster.sqlite.yaml). Without
    ELT_DAGSTER_STORAGE_URL, the embedded PostgreSQL is started and its `dagster` database is used.
    """
    home = Path(os.environ.get("DAGSTER_HOME", DAGSTER_HOME))
    home.mkdir(parents=True, exist_ok=True)
    sqlite = os.environ.get("ELT_INSTANCE_STORAGE", "postgres").lower() == "sqlite"
    shutil.copy(ROOT / ("dagster.sqlite.yaml" if sqlite else "dagster.yaml"), home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore")}
    if not sqlite and not env.get("ELT_DAGSTER_STORAGE_URL"):
        url = subprocess.run(
            [str(BIN / "elt-dagster"), "db", "url", "--instance", "--show-password"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        env["ELT_DAGSTER_STORAGE_URL"] = url
    return env


def run(*args: str, env: dict[str, str] | None = None) -> int:
    return subprocess.run(list(args), cwd=ROOT, env=env).returncode


DEMO_RUN_CONFIG = "loggers:\n  console:\n    config:\n      log_level: INFO\n"
"""The demo's run config: Dagster's console shows INFO and up (its DEBUG events are in the UI's event log)."""


def demo() -> int:
    env = dagster_env()
    run_config = ROOT / ".elt" / "demo-run.yaml"
    run_config.write_text(DEMO_RUN_CONFIG)
    job = [str(BIN / "dagster"), "job", "execute", "-m", "elt_dagster", "-j", "orders_elt", "-c", str(run_config)]
    code = run(*job, env=env)
    if code:
        return code
    code = run(str(BIN / "elt-dagster"), "preview", "configs/orders.yaml", env=env)
    print("\nThe embedded PostgreSQL keeps running for the next commands; `python3 dev.py db stop` stops it.")
    print("The UI: `python3 dev.py dev`, then http://127.0.0.1:3000")
    return code


def main() -> int:
    task = sys.argv[1] if len(sys.argv) > 1 else "help"
    extra = sys.argv[2:]
    if task not in ("demo", "test", "dev", "viewer", "coverage", "lint", "bench", "db"):
        print(__doc__)
        return 0 if task == "help" else 2
    ensure_venv()
    if task == "demo":
        return demo()
    if task == "db":
        return run(str(BIN / "elt-dagster"), "db", *(extra or ["status"]))
    if task == "test":
        return run(str(BIN / "python"), "-m", "pytest", *extra)
    if task == "bench":
        has_extras = subprocess.run([str(BIN / "python"), "-c", "import pandas, sqlalchemy"], capture_output=True)
        if has_extras.returncode:  # the benchmark's reference run (e) needs pandas and SQLAlchemy
            pip = [str(BIN / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, "-e", f"{ROOT}[bench]"], check=True)
        return run(str(BIN / "python"), "bench/run.py", *extra, env=dagster_env())
    if task == "viewer":
        args = ["-m", "elt_dagster", "--read-only", "-h", "127.0.0.1", "-p", "3001", *extra]
        return run(str(BIN / "dagster-webserver"), *args, env=dagster_env())
    if task == "coverage":
        code = run(str(BIN / "coverage"), "run", "--source=elt_dagster", "-m", "pytest", *extra)
        (ROOT / ".elt").mkdir(exist_ok=True)
        run(str(BIN / "coverage"), "json", "-q", "-o", str(ROOT / ".elt" / "coverage.json"))
        run(str(BIN / "coverage"), "report", "--skip-covered", "--sort=cover")
        return code
    if task == "dev":
        return run(str(BIN / "dagster"), "dev", "-m", "elt_dagster", *extra, env=dagster_env())
    return run(str(BIN / "ruff"), "format", "--check", ".") or run(str(BIN / "ruff"), "check", ".")


if __name__ == "__main__":
    sys.exit(main())
