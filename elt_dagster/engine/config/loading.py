"""Reading pipeline YAML files: parse, substitute `${VAR}`, validate, and check what the model can't (the disk)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from elt_dagster.engine.redaction import SECRETS_CONTEXT, mask_values

from .automation import AUTOMATION_SECTION
from .columns import RULES_KEY
from .env import resolve_env
from .errors import ConfigError, duplicate_keys, located
from .models import LoadedConfig, PipelineConfig
from .yaml_limits import MAX_DOCUMENT_BYTES, YAML_LOADER, check_document_size, check_yaml_size, document_too_large

CONFIG_DIR_ENV = "ELT_CONFIG_DIR"


def config_dir() -> Path:
    """The folder of pipeline YAML files: env ELT_CONFIG_DIR, default ./configs."""
    return Path(os.environ.get(CONFIG_DIR_ENV, "configs")).expanduser().resolve()


def discover_configs(folder: Path) -> list[Path]:
    """The pipeline YAML files in a folder, in name order."""
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and p.is_file())


def default_pipeline_name(path: Path) -> str:
    """The file's stem made a valid pipeline name: `my-orders.yaml` -> `my_orders`."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    return name if name[:1].isalpha() else f"p_{name}"


def load_config(path: Path | str) -> LoadedConfig:
    """Read, substitute `${VAR}` / `${VAR:-default}` and validate one pipeline YAML file."""
    path = Path(path).expanduser().resolve()
    return parse_config(read_config_text(path), path)


def read_config_text(path: Path) -> str:
    """A YAML file's text; a file that can't be read, is over MAX_DOCUMENT_BYTES (only that much is read), saved as
    UTF-16 ("Unicode" in Notepad) or in another encoding than UTF-8 is a ConfigError saying so."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_DOCUMENT_BYTES + 1)
            if len(data) > MAX_DOCUMENT_BYTES:
                raise ConfigError(path, [document_too_large(data, os.fstat(file.fileno()).st_size)])
    except OSError as exc:
        raise ConfigError(path, [f"can't read the file: {exc.strerror or exc}"]) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(path, ['the file is UTF-16 (Notepad\'s "Unicode"): save it as UTF-8'])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            path, [f"line {line}: the file is not UTF-8 text (byte {data[exc.start]:#04x}): save it as UTF-8"]
        ) from None


def parse_config(text: str, path: Path) -> LoadedConfig:
    """Validate YAML text as the pipeline config stored at `path`."""
    data, root = _parse_yaml(text, path)
    data, env_secrets = resolve_env(data, path, root)
    data.setdefault("name", default_pipeline_name(path))
    try:
        config = PipelineConfig.model_validate(data, context={SECRETS_CONTEXT: env_secrets})
    except ValidationError as exc:
        problems = [mask_values(_describe(error, root), env_secrets) for error in exc.errors()]
        raise ConfigError(path, problems) from None
    undeclared = config.undeclared_key_columns()
    if undeclared:
        raise ConfigError(path, [located(("target", "primary_key"), root, f"names undeclared columns {undeclared}")])
    check_source_paths(config, path, root, env_secrets)
    content_hash = hashlib.sha256(text.encode()).hexdigest()
    return LoadedConfig(config=config, path=path, text=text, content_hash=content_hash, env_secrets=env_secrets)


def check_source_paths(
    config: PipelineConfig, path: Path, root: yaml.Node | None = None, secrets: frozenset[str] = frozenset()
) -> None:
    """Every local source's file or folder exists (relative paths from the YAML's folder); the error shows the
    path with `secrets` (the config's values from the environment) masked."""
    for index, source in enumerate(config.sources):
        if source.type == "local" and not (resolved := source.resolved_path(path.parent)).exists():
            shown = mask_values(str(resolved), secrets)
            raise ConfigError(path, [located(("sources", index, "path"), root, f"{shown} does not exist")])


def _impossible_date(text: str, exc: ValueError) -> str:
    """Where YAML's own date reading failed: the line of the first date value it can't build."""
    stack = [yaml.compose(text, Loader=YAML_LOADER)]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            stack += [item for pair in reversed(node.value) for item in reversed(pair)]
        elif isinstance(node, yaml.SequenceNode):
            stack += list(reversed(node.value))
        elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
            try:
                yaml.SafeLoader("").construct_yaml_timestamp(node)
            except ValueError:
                where = f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"
                return f"{where}: {node.value!r} is not a real date ({exc}); put it in quotes if it is meant as text"
    return f"YAML error: {exc}"


def _parse_yaml(text: str, path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """The YAML as data, and its node tree (for the lines of keys in messages)."""
    check_document_size(text, path)
    try:
        check_yaml_size(text, path)  # before anything expands the aliases
        root = yaml.compose(text, Loader=YAML_LOADER)
        data = yaml.load(text, Loader=YAML_LOADER)  # a safe loader: YAML_LOADER is SafeLoader or CSafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, [f"YAML syntax error at {where}{exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"YAML error: {exc}"]) from None
    except RecursionError:
        raise ConfigError(path, ["the YAML is nested too deeply to be a pipeline config"]) from None
    except ValueError as exc:  # an unquoted date YAML reads as one but can't build (2024-02-30)
        raise ConfigError(path, [_impossible_date(text, exc)]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, ["the file must be a mapping with at least `sources` and `target`"])
    duplicates = duplicate_keys(root)
    if duplicates:
        raise ConfigError(path, duplicates)
    return data, root


def _describe(error: Any, root: yaml.Node | None) -> str:
    loc = tuple("columns" if part == RULES_KEY else part for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if loc[:1] == (AUTOMATION_SECTION,):  # the section's keys are written at the top level
        loc = loc[1:] or (("end_time",) if message.startswith("end_time") else ())
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see elt-dagster's docs/yaml-reference.md)"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "union_tag_invalid":
        context = error.get("ctx", {})
        message = f"unknown type {context.get('tag')!r} (known: {context.get('expected_tags')})"
    return located(loc, root, message)
