"""The README's dg flow from zero, run as written: a fresh venv, `create-dagster`, elt-dagster with its `dg` extra,
`dg scaffold defs`, `dg check defs`, `dg launch`, at the lowest end of elt-dagster's Dagster range.

The highest end is what `python3 dev.py` installs (the newest 1.13.x); this test pins the lowest published versions
of every Dagster package elt-dagster names, so both ends of `dagster>=1.13,<1.14` are tested.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from elt_dagster_tests.conftest import fetch

ROOT = Path(__file__).resolve().parents[2]
FROM_THIS_CHECKOUT = 'ELT_DAGSTER="$PWD"'  # the README's first line names the checkout it is pasted in
LOWEST = {  # the floors of pyproject.toml's ranges
    "dagster": "1.13.0",
    "dagster-webserver": "1.13.0",
    "dagster-postgres": "0.29.0",
    "dagster-dg-cli": "1.13.0",
    "create-dagster": "1.13.0",
}
INHERITED_SETTINGS = ("VIRTUAL_ENV", "PYTHONPATH", "DAGSTER_HOME", "ELT_CONFIG_DIR", "PIP_CONSTRAINT")


def readme_dg_block() -> str:
    """The first bash block of the README's "Use it in your dg project" section."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Use it in your dg project", 1)[1]
    block = re.search(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block is not None, "the README's dg section has no bash block"
    return block.group(1)


@pytest.mark.slow  # a venv and a Dagster install from the package index: in the full suite, not the quick tier
def test_the_readmes_dg_flow_from_zero_loads_the_scaffolded_pipeline(tmp_path: Path, instance_url: str) -> None:
    block = readme_dg_block()
    assert FROM_THIS_CHECKOUT in block
    script = block.replace(FROM_THIS_CHECKOUT, f"ELT_DAGSTER={shlex.quote(str(ROOT))}")
    constraints = tmp_path / "lowest.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in LOWEST.items()))
    env = {key: value for key, value in os.environ.items() if key not in INHERITED_SETTINGS}
    env |= {"PIP_CONSTRAINT": str(constraints), "ELT_DATABASE_URL": instance_url, "NO_COLOR": "1"}
    checkout = tmp_path / "checkout"  # where the user stands; the block makes ../my-project
    checkout.mkdir()

    ran = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script], cwd=checkout, env=env, capture_output=True, text=True
    )

    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    project = tmp_path / "my-project"
    assert 'dagster==1.13.0"' in (project / "pyproject.toml").read_text()  # create-dagster at the lowest end
    assert ".elt/" in (project / ".gitignore").read_text().splitlines()
    assert fetch(instance_url, "SELECT id, customer FROM public.orders ORDER BY id") == [(1, "Ada"), (2, "Grace")]
