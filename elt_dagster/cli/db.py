"""`elt-dagster db start|stop|status|url`: the embedded PostgreSQL that holds the data and Dagster's instance."""

from __future__ import annotations

import argparse
import os

from elt_dagster.engine import embedded
from elt_dagster.engine.db import DATABASE_URL_ENV
from elt_dagster.engine.redaction import redact_url

INSTANCE_URL_ENV = embedded.STORAGE_URL_ENV
"""Where Dagster's instance storage is (dagster.yaml reads it); unset, the embedded server's `dagster` database."""


def data_url() -> str:
    """The default database of the data: ELT_DATABASE_URL, else the embedded server's."""
    return os.environ.get(DATABASE_URL_ENV) or embedded.start()


def _shown(url: str, args: argparse.Namespace) -> str:
    return url if args.show_password else redact_url(url)


def _start(args: argparse.Namespace) -> int:
    url = embedded.start()
    print(f"embedded PostgreSQL running in {embedded.data_dir()}")
    print(f"data:     {_shown(url, args)}")
    print(f"instance: {_shown(embedded.with_database(url, embedded.INSTANCE_DATABASE), args)}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    print("stopped" if embedded.stop() else f"not running ({embedded.data_dir()})")
    return 0


def _status(args: argparse.Namespace) -> int:
    state = embedded.status()
    if state.running:
        print(f"running (pid {state.pid}) in {state.data_dir}")
        return 0
    print(f"stopped ({state.data_dir}); `elt-dagster db start` starts it")
    return 1


def _url(args: argparse.Namespace) -> int:
    print(_shown(embedded.instance_url() if args.instance else data_url(), args))
    return 0


def add_db_commands(commands: argparse._SubParsersAction) -> None:
    """The `db` command group."""
    db = commands.add_parser("db", help="the embedded PostgreSQL: start, stop, status, url").add_subparsers(
        dest="db_command", required=True
    )
    for name, func, text in [
        ("start", _start, "start the embedded PostgreSQL (and create the instance database); print the URLs"),
        ("stop", _stop, "stop the embedded PostgreSQL"),
        ("status", _status, "whether the embedded PostgreSQL runs (exit 1 when it doesn't)"),
        ("url", _url, f"the data database's URL ({DATABASE_URL_ENV}, else the embedded server's)"),
    ]:
        command = db.add_parser(name, help=text)
        command.add_argument("--show-password", action="store_true", help="print passwords (masked by default)")
        if name == "url":
            command.add_argument(
                "--instance", action="store_true", help=f"Dagster's instance storage instead ({INSTANCE_URL_ENV})"
            )
        command.set_defaults(func=func)
