"""Shared helpers for the config tests: write a pipeline YAML beside a `data` folder, load it, or get its error."""

from __future__ import annotations

from pathlib import Path

import pytest

from elt_dagster.engine.config import ConfigError, LoadedConfig, load_config
from elt_dagster_tests.conftest import write

SOURCES = """\
sources:
  - type: local
    path: data
"""


def config_file(tmp_path: Path, text: str, name: str = "orders") -> Path:
    """Write a pipeline YAML into tmp_path (with an existing `data` folder beside it)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    return write(tmp_path / f"{name}.yaml", text)


def load(tmp_path: Path, text: str, name: str = "orders") -> LoadedConfig:
    return load_config(config_file(tmp_path, text, name))


def config_error(tmp_path: Path, text: str, name: str = "orders") -> tuple[str, Path]:
    """The message of the ConfigError loading `text` raises, and the file's path."""
    path = config_file(tmp_path, text, name)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == str(path.resolve())
    message = str(caught.value)
    assert message.startswith(f"{path.resolve()}: ")
    return message, path.resolve()


def yaml_bomb(levels: int = 8, width: int = 9) -> str:
    """A "billion laughs" pipeline YAML (~600 bytes): each level's list holds `width` aliases of the one before, so
    the last stands for width**levels values."""
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]" for level in range(1, levels)]
    return SOURCES + "target:\n  table: t\n" + "\n".join(lines) + "\n"
