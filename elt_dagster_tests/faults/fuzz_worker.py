"""Fuzz cases run in a child process, one at a time, each within a time budget.

A case that hangs is killed with its process (the next case gets a fresh one); a runaway allocation (a YAML bomb, a
quadratic parse) hits the child's memory limit instead of the shared machine. The child reports what the case
returned or raised as plain values, plus everything logged while it ran (for the secrets sweep).
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from elt_dagster.engine.errors import PipelineError

CASE_SECONDS = 30.0
"""A case still running after this is a hang (the slowest honest case takes a few seconds): it guards hangs only."""
MEMORY_BYTES = 4 << 30
"""The child's address space: a case past it raises MemoryError (a raw traceback) instead of swapping the machine."""


@dataclass
class Result:
    """What one case did: returned `value`, or raised `error_type` with `message`; or hung, or killed its process."""

    value: Any = None
    error_type: str = ""
    message: str = ""
    project_error: bool = False
    """The exception is one of the project's own (a PipelineError): the kind the CLI and Dagster show as one line."""
    hang: bool = False
    crashed: str = ""
    """How the child died mid-case (e.g. killed by a signal), if it did."""
    logs: str = ""

    @property
    def raised(self) -> bool:
        return bool(self.error_type)


def _serve(conn: Connection, env: dict[str, str]) -> None:
    """The child: run each (function, argument) received, send back a Result; stop on None."""
    os.environ.clear()
    os.environ.update(env)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    # the project's own logs, all of them; other libraries' as they log by default (urllib3's DEBUG lines, which
    # show each request's URL, only when a user turns them on)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("elt_dagster").setLevel(logging.DEBUG)
    while (job := conn.recv()) is not None:
        function, argument = job
        logs.seek(0)
        logs.truncate()
        try:
            result = Result(value=function(argument))
        except BaseException as exc:
            kind = type(exc)
            result = Result(
                error_type=f"{kind.__module__}.{kind.__qualname__}",
                message=str(exc),
                project_error=isinstance(exc, PipelineError),
            )
        result.logs = logs.getvalue()
        conn.send(result)


class Worker:
    """A child process that runs fuzz cases one at a time (`call`), replaced after a hang or a crash."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = dict(env if env is not None else os.environ)
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, function: Callable[[Any], Any], argument: Any, seconds: float = CASE_SECONDS) -> Result:
        """`function(argument)` in the child (both picklable), within `seconds`."""
        if self._process is None:
            self._start()
        assert self._conn is not None
        self._conn.send((function, argument))
        try:
            if self._conn.poll(seconds):
                return self._conn.recv()
            hung = True
        except (EOFError, OSError):  # the child died mid-case
            hung = False
            self._process.join(5)
        code = self._process.exitcode
        self._stop()
        return Result(hang=True) if hung else Result(crashed=f"the process died (exit code {code})")

    def close(self) -> None:
        """Stop the child (asked to; killed if it does not end within seconds)."""
        if self._process is not None and self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._process.join(5)
        self._stop()

    def _start(self) -> None:
        self._conn, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child, self.env), daemon=True)
        self._process.start()
        child.close()

    def _stop(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
            self._process.close()
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None
