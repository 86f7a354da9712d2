"""The run's guards: which psycopg errors read as a lost connection (run again) and which as a refusal.

The pipeline lock's behaviour (a run waiting on a hung run fails with a message) is tested through runs in
engine/test_run.py.
"""

from __future__ import annotations

import psycopg
import pytest

from elt_dagster.engine.locks import _connection_lost


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (psycopg.errors.AdminShutdown, True),
        (psycopg.errors.ConnectionFailure, True),
        (psycopg.OperationalError, True),  # no SQLSTATE: the socket closed
        (psycopg.errors.TooManyColumns, False),  # an OperationalError, but the server is there and refuses
        (psycopg.errors.DiskFull, False),
        (psycopg.errors.ProtocolViolation, False),  # class 08, but a broken message: running again won't help
    ],
)
def test_only_a_server_gone_away_reads_as_a_lost_connection(error: type[psycopg.OperationalError], lost: bool) -> None:
    assert _connection_lost(error("x")) is lost
