"""The commands of README.md and docs/*.md work when pasted into a fresh clone's shell (issue 22).

Every fenced ```bash / ```sh / ```console block, and the page's inline commands (see INLINE) as one more block, is
split into commands (`# comments` dropped, `\\` continuations joined); each is in `RUN` or in `SKIPPED` with its
reason: a new command in the docs fails the first test until it is dealt with, a stale entry too.
The RUN commands are pasted, block by block in document order, into one `bash` per block (so an `export` reaches the
next line) in a copy of the tracked files, whose own `.elt/` gets the embedded PostgreSQL and `DAGSTER_HOME` the
commands start by themselves; no ELT_* or DAGSTER_HOME variable of the test's environment reaches them.

The copy's `.venv` is the project's installed one, linked entry by entry, with the install stamp of dev.py's
`ensure_venv` written for the copy's pyproject.toml, so `dev.py` does not reinstall. Its editable install therefore
runs this tree's code: the test is about the commands, their paths and their environment, not a second install.
deploy/README.md is left out: its commands need a Docker daemon, a Kubernetes cluster and helm.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from elt_dagster.engine import embedded

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(bash|sh|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
ANY_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`((?:[A-Z_]+=[^\s`]+ )+[\w./-]+ [^`\n]*|(?:\.venv/bin/[\w-]+|python3 dev\.py|make) [^`\n]*)`")
"""Inline commands pasted as they are: `.venv/bin/...`, `python3 dev.py ...`, `make ...`, `VAR=value command ...`."""
COMMENT = re.compile(r"(^|\s)#.*$")
MARK = "@@doc-command@@"
BLOCK_TIMEOUT_SECONDS = 900

PREAMBLE = {"docs/cli.md": ". .venv/bin/activate"}
"""What a page tells the reader to do before its blocks (cli.md: "activate the venv with `. .venv/bin/activate`")."""

DG_FLOW = "the dg flow: elt_dagster_tests/deployment/test_dg_from_zero.py runs it in a fresh dg project"
SYNTAX = "the CLI's syntax with placeholders or alternatives, not a command to paste"
RUN = (
    "python3 dev.py demo",
    "python3 dev.py bucket-demo",
    ".venv/bin/elt-dagster rejects orders",
    ".venv/bin/elt-dagster validate configs/orders.yaml",
    "python3 dev.py db stop",
    "make demo",
    "elt-dagster validate configs/*.yaml",
    "elt-dagster check orders",
    "elt-dagster preview orders",
    "elt-dagster runs cleanup",
    "dg launch --job orders_elt -m elt_dagster",
    "dagster definitions validate -m elt_dagster",
    "export DAGSTER_HOME=$PWD/.elt/dagster && mkdir -p $DAGSTER_HOME && cp dagster.yaml $DAGSTER_HOME/",
    ".venv/bin/dg launch --job orders_elt -m elt_dagster",
    ".venv/bin/elt-dagster db stop",
    "DAGSTER_HOME=$PWD/.elt/dagster .venv/bin/dg launch --job orders_elt -m elt_dagster",
    'DAGSTER_HOME=$PWD/.elt/dagster .venv/bin/dagster job execute -m elt_dagster -j events_elt --tags \'{"dagster/partition": "2024-01-02"}\'',
    ".venv/bin/dg launch --job events_elt --partition 2024-01-02 -m elt_dagster",
    '.venv/bin/dagster job execute -m elt_dagster -j events_elt --tags \'{"dagster/partition": "2024-01-03"}\'',
    ".venv/bin/dagster asset materialize -m elt_dagster --partition 2024-01-01 --select 'events/extracted,events/validated,events/events,events/events__rejected'",
    ".venv/bin/elt-dagster preview events",
)
SKIPPED = {
    "python3 dev.py test": "the whole suite, which holds this test (recursion)",
    "python3 dev.py test --quick": "the quick tier, which holds this module's fast test (recursion)",
    "python3 dev.py test -m faults": "the fault suite: a part of the suite this test belongs to (recursion)",
    "python3 dev.py test --quick -x -k merge": "the suite again (recursion)",
    "python3 dev.py dev": "runs until stopped; its start and stop: end_to_end/test_dev_stop.py",
    "python3 dev.py lint": "ruff over the tree; what CI lints, not a first-page command",
    "python3 dev.py bench": "the benchmark: minutes of loads (bench/README.md)",
    "make test": "python3 dev.py test (recursion)",
    "make bench": "python3 dev.py bench: minutes of loads",
    "make viewer": "python3 dev.py viewer: runs until stopped",
    "python3 dev.py coverage": "the whole suite under coverage (recursion)",
    "python3 dev.py viewer": "a read-only webserver that runs until stopped; tested in end_to_end/test_roles.py",
    ".venv/bin/elt-dagster rejects replay orders": "comes after a fix the reader makes in configs/orders.yaml",
    'ELT_DAGSTER="$PWD" && mkdir ../my-project && cd ../my-project': DG_FLOW,
    "python3 -m venv .venv && . .venv/bin/activate": DG_FLOW,
    'pip install "${ELT_DAGSTER}[dg]" create-dagster': DG_FLOW,
    "create-dagster project . --no-uv-sync && pip install -e .": DG_FLOW,
    "dg check defs && dg launch --job orders_elt": DG_FLOW,
    "elt-dagster rejects orders": DG_FLOW,
    "dg list components": DG_FLOW,
    "dg scaffold defs elt_dagster.EltPipeline orders": DG_FLOW,
    "dg check defs": DG_FLOW,
    "dg list defs": DG_FLOW,
    "dg launch --job orders_elt": DG_FLOW,
    "POSTGRES_PASSWORD=... docker compose -f deploy/docker-compose.yml up --build": "needs a Docker daemon",
    "elt-dagster config upload my_pipeline.yaml": "uploads the reader's own my_pipeline.yaml",
    "elt-dagster config history [PIPELINE]": SYNTAX,
    "elt-dagster config show PIPELINE [--version N]": SYNTAX,
    "elt-dagster config diff PIPELINE [V1 V2]": SYNTAX,
    "elt-dagster logs [PIPELINE] [--lines 100]": SYNTAX,
    "elt-dagster rejects PIPELINE [--run RUN_ID] [--reason TEXT] [--limit 50] [--format table|csv|json]": SYNTAX,
    "elt-dagster rejects replay PIPELINE": SYNTAX,
    "elt-dagster db start|stop|status": SYNTAX,
    "elt-dagster db url [--instance] [--show-password]": SYNTAX,
}


@dataclass(frozen=True)
class Block:
    """The commands of one fenced block, or a page's inline commands (`fenced` False), in document order."""

    page: str
    fenced: bool
    commands: tuple[str, ...]


def split_commands(text: str, console: bool = False) -> list[str]:
    """A block's commands: `\\` continuations joined, `# comments` and blank lines dropped (console: `$ ` lines)."""
    lines = text.replace("\\\n", " ").splitlines()
    if console:
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    commands = (re.sub(r"\s+", " ", COMMENT.sub("", line)).strip() for line in lines)
    return [command for command in commands if command]


def blocks(page: Path) -> list[Block]:
    """The page's fenced shell blocks, then its inline commands as one more block."""
    text, name = page.read_text(), str(page.relative_to(ROOT))
    found = [Block(name, True, tuple(split_commands(m[2], m[1] == "console"))) for m in FENCE.finditer(text)]
    inline = tuple(INLINE.findall(ANY_FENCE.sub("", text)))
    return found + ([Block(name, False, inline)] if inline else [])


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]


def test_every_command_of_the_docs_is_run_or_skipped_with_a_reason() -> None:
    commands = {command for block in all_blocks() for command in block.commands}
    assert sorted(commands - set(RUN) - set(SKIPPED)) == []
    assert sorted((set(RUN) | set(SKIPPED)) - commands) == []  # no entry for a command the docs no longer hold
    assert set(RUN) & set(SKIPPED) == set()


def test_commands_are_split_as_a_shell_reads_them() -> None:
    text = "a --x 1 \\\n  --y 2   # why\n\n# a comment\nb  c\n"
    assert split_commands(text) == ["a --x 1 --y 2", "b c"]
    assert split_commands("$ a  # x\noutput\n$ b\n", console=True) == ["a", "b"]


def fresh_env() -> dict[str, str]:
    """The environment of a new shell: none of the project's variables, no virtualenv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELT_", "DAGSTER_", "PYTEST_", "VIRTUAL_ENV"))}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not (Path(p).parent / "pyvenv.cfg").exists()]
    return {**env, "PATH": os.pathsep.join(path)}


def copy_tracked_files(clone: Path) -> None:
    """What a clone of the next commit holds: tracked and new unignored files, as they are in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not in the next commit
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)


def link_installed_venv(clone: Path) -> None:
    """`<clone>/.venv`: the project's venv entries linked, and dev.py's stamp for the clone's pyproject.toml."""
    installed = (ROOT / ".venv").resolve()
    venv = clone / ".venv"
    venv.mkdir()
    for entry in installed.iterdir():
        if entry.name != ".elt-installed":
            (venv / entry.name).symlink_to(entry)
    stamp = hashlib.sha256((clone / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".elt-installed").write_text(stamp)  # the stamp ensure_venv compares: no reinstall into the shared venv


@pytest.fixture(scope="module")
def clone() -> Iterator[Path]:
    """A fresh clone of this tree with the installed venv; its embedded PostgreSQL is stopped afterwards.

    Not under pytest's tmp_path: as root the server runs as another user, which needs to traverse the folders above
    its data, and every pytest session resets /tmp/pytest-of-<user> to mode 700 (the session database does the same).
    """
    folder = Path(tempfile.mkdtemp(prefix="elt-doc-clone-"))
    try:
        copy_tracked_files(folder)
        link_installed_venv(folder)
        yield folder
    finally:
        embedded.stop(folder=folder / ".elt" / "postgres")
        shutil.rmtree(folder, ignore_errors=True)


def paste(clone: Path, block: Block) -> dict[str, str]:
    """Run the block's RUN commands in one bash, in order, stopping at the first failure; each command's output."""
    commands = [command for command in block.commands if command in RUN]
    lines = ["set -e", PREAMBLE.get(block.page, "")]
    for index, command in enumerate(commands):
        lines += [f"echo '{MARK}{index}'", command]
    done = subprocess.run(
        ["bash", "-c", "\n".join(lines)],
        cwd=clone,
        env=fresh_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=BLOCK_TIMEOUT_SECONDS,
    )
    parts = done.stdout.split(MARK)[1:]
    outputs = {commands[int(part.split("\n", 1)[0])]: part.split("\n", 1)[1] for part in parts}
    if done.returncode:
        failed = commands[len(parts) - 1] if parts else lines[1]
        printed = outputs.get(failed, done.stdout)
        shown = printed if len(printed) < 6000 else f"{printed[:2000]}\n...\n{printed[-4000:]}"
        pytest.fail(f"{block.page}: `{failed}` exited {done.returncode}:\n{shown}")
    return outputs


@pytest.fixture(scope="module")
def quick_start(clone: Path) -> dict[str, str]:
    """The README's commands pasted into the clone in order: what each printed."""
    outputs: dict[str, str] = {}
    for block in blocks(ROOT / "README.md"):
        outputs |= paste(clone, block)
    return outputs


@pytest.mark.slow  # a Dagster run and an embedded PostgreSQL start in a fresh clone
def test_the_readme_quick_start_works_pasted_into_a_fresh_clone(quick_start: dict[str, str]) -> None:
    demo = quick_start["python3 dev.py demo"]
    assert "public.orders: 8 rows" in demo, demo[-3000:]
    assert re.search(r"^9 +Tyrell Corp +1000 ", demo, re.MULTILINE), demo[-3000:]  # the table, shown
    rejects = quick_start[".venv/bin/elt-dagster rejects orders"]
    assert "public.orders__rejected: 1 quarantined records match, 1 shown" in rejects, rejects
    validated = quick_start[".venv/bin/elt-dagster validate configs/orders.yaml"]
    assert re.match(r"OK +\S+/configs/orders\.yaml: pipeline 'orders'", validated), validated


RUN_AND_OBJECT = re.compile(r"^  run (\w{8})  s3://samples/orders/(\S+) +(\d+) rows$", re.MULTILINE)
"""A line of the bucket walkthrough's `public.orders, rows per run and object` (from the table itself)."""


@pytest.mark.slow  # a local S3 server, Dagster runs and an embedded PostgreSQL in a fresh clone
def test_the_readme_bucket_walkthrough_shows_what_issue_25_asks(quick_start: dict[str, str]) -> None:
    shown = quick_start["python3 dev.py bucket-demo"]
    rows = RUN_AND_OBJECT.findall(shown)
    assert len(rows) == 3 + 4, shown[-4000:]  # the table after the first load, then after the sensor's run
    first_load, after_sensor = rows[:3], rows[3:]
    objects = ["orders_2024_01.csv", "orders_2024_02.jsonl.gz", "orders_2024_03.parquet"]
    assert [(obj, count) for _, obj, count in first_load] == [(obj, "5") for obj in objects]
    assert len({run for run, _, _ in first_load}) == 1  # one table, one run: three formats
    assert after_sensor[:3] == first_load
    sensor_run, new_object, new_rows = after_sensor[3]
    assert (new_object, new_rows) == ("orders_2024_04.csv", "3") and sensor_run != first_load[0][0]
    assert "skipping: no new or changed files among the 3 watched" in shown
    assert "1 new or changed files (orders_2024_04.csv)" in shown
    assert "Sensor returning run requests for 1 run(s)" in shown
    requested_run = shown.split("Sensor returning run requests", 1)[1]
    assert "3 files unchanged since they were loaded: not read" in requested_run
    assert "read 1 files: s3://samples/orders/orders_2024_04.csv (3 rows)" in requested_run
    assert "public.payments's column types: paid_on date, customer text, amount numeric" in shown
    assert re.search(r"^2024-02-29 +Globex +75 ", shown, re.MULTILINE)  # a date cell as a date, not a serial number
    endpoint = re.search(r"^S3 API on http://127\.0\.0\.1:(\d+);", shown, re.MULTILINE)
    assert endpoint and "The S3 server stopped." in shown
    with socket.socket() as probe:  # stopped: its port no longer answers
        assert probe.connect_ex(("127.0.0.1", int(endpoint[1]))) != 0


@pytest.mark.slow  # Dagster runs and an embedded PostgreSQL start in a fresh clone
def test_the_docs_commands_work_pasted_into_a_fresh_clone(clone: Path, quick_start: dict[str, str]) -> None:
    ran = set(quick_start)
    for block in all_blocks():
        if block.page != "README.md":
            ran |= set(paste(clone, block))
    assert ran == set(RUN)
