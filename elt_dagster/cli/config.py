"""`elt-dagster config upload | history | show | diff`: the recorded versions of the pipeline YAML files."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from elt_dagster.cli.pipelines import pipeline_files, pipeline_name
from elt_dagster.engine.config import ConfigError, LoadedConfig, load_config

if TYPE_CHECKING:
    from elt_dagster.engine.state.history import ConfigVersion

HASH_CHARS = 12


def target_url(loaded: LoadedConfig) -> str:
    """The database a pipeline loads into, where its config history is kept."""
    from elt_dagster.engine.db import target_database_url

    return target_database_url(loaded.config.target)


def _history_urls(pipeline: str | None) -> list[str]:
    """The databases that may hold config history: every valid config's target, and the default one."""
    from elt_dagster.engine.db import DATABASE_URL_ENV, embedded_database_url

    urls = []
    for path in pipeline_files()[0]:
        try:
            loaded = load_config(path)
        except ConfigError:
            continue
        if pipeline in (None, loaded.name):
            urls.append(target_url(loaded))
    if not urls:
        urls.append(os.environ.get(DATABASE_URL_ENV) or embedded_database_url())
    return list(dict.fromkeys(urls))


def recorded_versions(pipeline: str | None) -> list[ConfigVersion]:
    """Every recorded version (of one pipeline), from every database that may hold them, by pipeline and version."""
    from elt_dagster.engine.db import connect
    from elt_dagster.engine.state.history import history

    versions = []
    for url in _history_urls(pipeline):
        with connect(url) as conn:
            versions += history(conn, pipeline)
    unique = {(v.pipeline, v.version): v for v in versions}
    return [unique[key] for key in sorted(unique)]


def _config_upload(args: argparse.Namespace) -> int:
    from elt_dagster.engine.config import config_dir, parse_config, read_config_text
    from elt_dagster.engine.db import connect
    from elt_dagster.engine.state.history import record_version

    source = Path(args.file)
    try:
        text = read_config_text(source)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    folder = config_dir()
    destination = folder / (args.as_name or source.name)
    try:  # validated as it will be once in place: relative paths are taken from the config folder
        loaded = parse_config(text, destination)
    except ConfigError as exc:
        print(f"INVALID {source} (as {destination}); nothing stored", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    with connect(target_url(loaded)) as conn:
        version, is_new = record_version(conn, loaded)
    folder.mkdir(parents=True, exist_ok=True)
    destination.write_text(text, encoding="utf-8")
    state = "stored as" if is_new else "unchanged: already"
    print(f"{destination}: pipeline {loaded.name!r} {state} version {version.version} ({version.content_hash[:12]})")
    return 0


def _config_history(args: argparse.Namespace) -> int:
    from elt_dagster.engine.report import text_table
    from elt_dagster.engine.state.history import describe_change

    pipeline = pipeline_name(args.pipeline) if args.pipeline else None
    versions = recorded_versions(pipeline)
    if not versions:
        print("no config versions recorded yet" + (f" for {pipeline}" if pipeline else ""))
        return 0 if not pipeline else 1
    rows = []
    for i, v in enumerate(versions):
        previous = versions[i - 1] if i and versions[i - 1].pipeline == v.pipeline else None
        recorded = f"{v.created_at:%Y-%m-%d %H:%M:%S %Z}"
        rows.append([v.pipeline, v.version, recorded, v.content_hash[:HASH_CHARS], describe_change(previous, v)])
    print(text_table(["PIPELINE", "VERSION", "RECORDED", "HASH", "CHANGE"], rows))
    return 0


def _config_show(args: argparse.Namespace) -> int:
    pipeline = pipeline_name(args.pipeline)
    versions = recorded_versions(pipeline)
    found = [v for v in versions if args.version in (None, v.version)][-1:]
    if not found:
        which = f"version {args.version} of " if args.version else ""
        print(f"error: no {which}config recorded for pipeline {pipeline!r}{_known(versions)}", file=sys.stderr)
        return 1
    v = found[0]
    print(f"# {v.pipeline} version {v.version}, {v.created_at:%Y-%m-%d %H:%M:%S %Z}, from {v.source_path}")
    print(v.yaml, end="" if v.yaml.endswith("\n") else "\n")
    return 0


def _config_diff(args: argparse.Namespace) -> int:
    from elt_dagster.engine.state.history import version_diff

    pipeline = pipeline_name(args.pipeline)
    if len(args.versions) not in (0, 2):
        print("error: give two versions (config diff PIPELINE V1 V2), or none for the latest two", file=sys.stderr)
        return 1
    versions = recorded_versions(pipeline)
    by_number = {v.version: v for v in versions}
    if not versions:
        print(f"error: no config recorded for pipeline {pipeline!r}", file=sys.stderr)
        return 1
    if not args.versions and len(versions) < 2:
        print(f"error: {pipeline} has only version {versions[0].version}: nothing to compare", file=sys.stderr)
        return 1
    wanted = args.versions or [versions[-2].version, versions[-1].version]
    missing = [n for n in wanted if n not in by_number]
    if missing:
        print(f"error: {pipeline} has no version {missing[0]}{_known(versions)}", file=sys.stderr)
        return 1
    old, new = by_number[wanted[0]], by_number[wanted[1]]
    lines = version_diff(old, new)
    if not lines:
        same = "the same version" if old.version == new.version else "versions that differ only in redacted values"
        print(f"# {old.label} and {new.label}: {same}")
    else:
        print("\n".join(lines))
    return 0


def _known(versions: list[ConfigVersion]) -> str:
    return f" (recorded: {', '.join(str(v.version) for v in versions)})" if versions else ""


def add_config_commands(commands: argparse._SubParsersAction) -> None:
    """The `config` command and its `upload`, `history`, `show` and `diff` subcommands."""
    config = commands.add_parser("config", help="config versions: upload, history, show, diff").add_subparsers(
        dest="config_command", required=True
    )
    upload = config.add_parser(
        "upload", help="validate a YAML, store it as the next version, place it in the config folder"
    )
    upload.add_argument("file", metavar="FILE")
    upload.add_argument("--as", dest="as_name", metavar="NAME.yaml", help="file name in the config folder")
    upload.set_defaults(func=_config_upload)
    listing = config.add_parser(
        "history", help="every recorded version: pipeline, version, time, content hash, what changed"
    )
    listing.add_argument("pipeline", nargs="?", metavar="PIPELINE", help="a pipeline's name or YAML file")
    listing.set_defaults(func=_config_history)
    detail = config.add_parser("show", help="the full (redacted) YAML of a version, the latest by default")
    detail.add_argument("pipeline", metavar="PIPELINE", help="a pipeline's name or YAML file")
    detail.add_argument("--version", type=int, help="version number (default: the latest)")
    detail.set_defaults(func=_config_show)
    diff = config.add_parser("diff", help="a unified diff of two versions' (redacted) YAML, the latest two by default")
    diff.add_argument("pipeline", metavar="PIPELINE", help="a pipeline's name or YAML file")
    diff.add_argument("versions", nargs="*", type=int, metavar="V", help="two version numbers: V1 V2")
    diff.set_defaults(func=_config_diff)
