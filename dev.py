#!/usr/bin/env python3
"""Project tasks with nothing but Python 3.11+: creates .venv, installs the project, runs things.

python3 dev.py demo    run the sample pipeline on the embedded PostgreSQL and show what was loaded
python3 dev.py bucket-demo  the same from a bucket of a local S3 server (SeaweedFS): three formats into one table,
                       the source sensor on a new object, an Excel sheet (examples/bucket, docs/object-storage.md)
python3 dev.py test    run the test suite (what CI runs); --quick: the quick tier, without the daemon, browser,
                       deployment and fault tests (other arguments go to pytest)
python3 dev.py dev     start the Dagster UI and daemon (dagster dev) on http://127.0.0.1:3000; Ctrl-C or SIGTERM
                       stops them all
python3 dev.py viewer  a read-only Dagster UI on http://127.0.0.1:3001
python3 dev.py db stop stop the embedded PostgreSQL (also: start, status, url)
python3 dev.py bench   the load benchmark (see bench/README.md)
python3 dev.py coverage  the tests with coverage (feeds the project_health/test_coverage asset)
python3 dev.py lint    ruff format --check and ruff check
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".elt-installed"
DAGSTER_HOME = ROOT / ".elt" / "dagster"
QUICK_TIER_SKIPS = ("faults", "end_to_end", "deployment")
"""The test folders `test --quick` leaves out (and tests marked slow): the fault suite, the daemon, browser and webserver
tests, deployments."""
STOP_SECONDS = 90
"""How long `dagster dev` may take to stop after Ctrl-C or SIGTERM (it gives its webserver and daemon 60 s each)."""
LEFTOVER_SECONDS = 10
"""How long what `dagster dev` started (code servers, runs) may outlive it before it is killed."""


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


AZURITE = ROOT / ".elt" / "npm" / "node_modules" / ".bin" / "azurite-blob"


def ensure_azurite() -> None:
    """Install Azurite (the Azure Blob Storage emulator the tests run) from npm into .elt/npm, once."""
    if AZURITE.exists():
        return
    npm = shutil.which("npm")
    if npm is None:  # the Azure tests then fail, naming what is missing
        print("npm is missing: the Azure tests need it to install Azurite (Node.js 18 or newer)", file=sys.stderr)
        return
    print("installing Azurite (npm) into .elt/npm ...", flush=True)
    install = [npm, "install", "--prefix", str(ROOT / ".elt" / "npm"), "--no-audit", "--no-fund", "azurite@3"]
    subprocess.run(install, check=True, stdout=subprocess.DEVNULL)


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


def test_args(extra: list[str]) -> list[str]:
    """pytest's arguments for `test`: as given, or with --quick the quick tier (see QUICK_TIER_SKIPS)."""
    if "--quick" not in extra:
        return extra
    skips = [f"--ignore=elt_dagster_tests/{folder}" for folder in QUICK_TIER_SKIPS]
    return [*skips, "-m", "not faults and not slow", *(arg for arg in extra if arg != "--quick")]


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def run_stoppable(args: list[str], env: dict[str, str]) -> int:
    """Run `args` as a process group of its own that Ctrl-C, SIGTERM or SIGHUP to dev.py stop as a whole.

    The signal is passed on to the group (as a terminal's Ctrl-C reaches every process of it); the group is killed if
    it has not stopped after STOP_SECONDS, and whatever of it outlives its leader after LEFTOVER_SECONDS, so nothing is
    left holding the port. Installing the handlers first also gives the child default handlers: Dagster makes SIGTERM
    do what SIGINT does, which is nothing when the shell started dev.py with SIGINT ignored (`&` in a script).
    """
    received: list[int] = []
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, lambda got, _frame: received.append(got)) for signum in stops}
    try:
        with subprocess.Popen(args, cwd=ROOT, env=env, process_group=0) as leader:
            code = wait_for_group(leader, received)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def wait_for_group(leader: subprocess.Popen, received: list[int]) -> int:
    """Wait for the group's leader, passing on the signals in `received`; then for the rest of its group."""
    group, passed_on, deadline = leader.pid, 0, None
    while leader.poll() is None:
        if len(received) > passed_on:
            signal_group(group, signal.SIGINT if received[-1] == signal.SIGINT else signal.SIGTERM)
            passed_on, deadline = len(received), deadline or time.monotonic() + STOP_SECONDS
        if deadline and time.monotonic() > deadline:
            print(f"dagster dev did not stop within {STOP_SECONDS} s: killing it", file=sys.stderr, flush=True)
            signal_group(group, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.2)
    leftovers_deadline = time.monotonic() + LEFTOVER_SECONDS
    while group_alive(group) and time.monotonic() < leftovers_deadline:
        time.sleep(0.2)
    signal_group(group, signal.SIGKILL)
    return leader.returncode


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
    if task not in ("demo", "bucket-demo", "test", "dev", "viewer", "coverage", "lint", "bench", "db"):
        print(__doc__)
        return 0 if task == "help" else 2
    ensure_venv()
    if task == "demo":
        return demo()
    if task == "bucket-demo":  # its own process group on POSIX: Ctrl-C lets it stop its S3 server before it exits
        walkthrough = [str(BIN / "python"), str(ROOT / "examples" / "bucket" / "walkthrough.py")]
        return run(*walkthrough, env=dagster_env()) if os.name == "nt" else run_stoppable(walkthrough, dagster_env())
    if task == "db":
        return run(str(BIN / "elt-dagster"), "db", *(extra or ["status"]))
    if task in ("test", "coverage"):
        ensure_azurite()
    if task == "test":
        return run(str(BIN / "python"), "-m", "pytest", *test_args(extra))
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
        dagster_dev = [str(BIN / "dagster"), "dev", "-m", "elt_dagster", *extra]
        return run(*dagster_dev, env=dagster_env()) if os.name == "nt" else run_stoppable(dagster_dev, dagster_env())
    return run(str(BIN / "ruff"), "format", "--check", ".") or run(str(BIN / "ruff"), "check", ".")


if __name__ == "__main__":
    sys.exit(main())
