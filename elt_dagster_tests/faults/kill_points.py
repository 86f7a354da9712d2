"""kill -9 a child process at a named phase of its work, seen from PostgreSQL, so no moment depends on speed.

The child's connections carry an application name (libpq takes it from PGAPPNAME); `pg_stat_activity` shows what
each of them is doing, polled about every millisecond. A phase is a test on those rows: a COPY into the table, an
index build, a client reading its next batch. A phase too short to be seen for sure is held open by a lock taken
here before the child starts (a `hold`): the child waits on it, and is killed while it waits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import psycopg

POLL_SECONDS = 0.001
WATCH_TIMEOUT_SECONDS = 60.0
"""A child not killed nor finished by then hangs: the test fails instead of waiting for ever."""
_ACTIVITY = "SELECT state, query, wait_event_type FROM pg_stat_activity WHERE application_name = %s"


@dataclass(frozen=True)
class Activity:
    """What one of the child's connections is doing."""

    state: str
    query: str
    waiting_on_lock: bool

    def runs(self, prefix: str) -> bool:
        """Whether it is executing a statement that starts with `prefix`."""
        return self.state == "active" and self.query.startswith(prefix)


Hold = tuple[str, Sequence[object]]
"""A statement run in a transaction kept open while the child runs (its locks make the child wait), then rolled back."""


@dataclass(frozen=True)
class Phase:
    """A named moment of the child's work; `rank` orders phases within one run (equal ranks interleave). A phase
    with a `hold` is held open by it in every run killed at that phase or an earlier one."""

    name: str
    rank: int
    seen: Callable[[Activity], bool]
    hold: Hold | None = None


IMPORTS = Phase("imports", 0, lambda activity: False)
"""Python starting and importing, before the first connection: timed as a share of the startups seen so far."""


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: the `occurrence`-th time (from 0) `phase` is seen; for IMPORTS, at `fraction` of the startup.

    A phase not seen that often before a later-ranked one is seen is killed in that later one (and named so)."""

    phase: Phase
    occurrence: int = 0
    fraction: float = 0.5


class Killer:
    """Runs `command` again and again, each time killed at a chosen point or left to finish."""

    def __init__(
        self,
        database_url: str,
        command: Sequence[str],
        env: Mapping[str, str],
        phases: Sequence[Phase],
        group: bool = False,
    ):
        self.database_url, self.command, self.env = database_url, list(command), dict(env)
        self.phases = sorted(phases, key=lambda phase: phase.rank)
        self.group = group
        self.startups: list[float] = []
        """Seconds from the start of each child to its first connection."""

    def run(self, point: KillPoint | None) -> str:
        """Start the command and kill it at `point` (None: let it finish, asserting it succeeds). Returns the name of
        the phase it was killed in, or "finished". Returns once the child's connections are gone, so that a killed
        child's server process, which goes on until it reads from the dead socket, never overlaps the next run."""
        name = f"elt-kill-{uuid.uuid4().hex[:12]}"
        rank = point.phase.rank if point else float("inf")
        holds = [phase.hold for phase in self.phases if phase.hold and phase.rank >= rank]
        with psycopg.connect(self.database_url, autocommit=True) as watcher:
            with psycopg.connect(self.database_url) as holder:
                for statement, params in holds:
                    holder.execute(statement, params)
                try:
                    ended = self._watch(watcher, name, point)
                finally:
                    holder.rollback()
            self._wait_until_gone(watcher, name)
        return ended

    def _watch(self, watcher: psycopg.Connection, name: str, point: KillPoint | None) -> str:
        started = time.monotonic()
        # `group`: the child and the processes it starts are killed together, as when a machine or a pod dies
        process = subprocess.Popen(self.command, env={**self.env, "PGAPPNAME": name}, start_new_session=self.group)
        try:
            where = _Progress(point, self.phases, self._imports_deadline(point))
            connected = False
            while process.poll() is None:
                activities = _activities(watcher, name)
                elapsed = time.monotonic() - started
                if activities and not connected:
                    connected = True
                    self.startups.append(elapsed)
                phase = where.kill_at(activities, elapsed)
                if phase is not None and process.poll() is None:
                    if self.group:
                        os.killpg(process.pid, signal.SIGKILL)
                    else:
                        process.send_signal(signal.SIGKILL)
                    return phase
                assert elapsed < WATCH_TIMEOUT_SECONDS, f"still runs after {elapsed:.0f} s: {activities}"
                time.sleep(POLL_SECONDS)
            assert point is not None or process.returncode == 0, f"a run left to finish failed ({process.returncode})"
            return "finished"
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=60)

    @staticmethod
    def _wait_until_gone(watcher: psycopg.Connection, name: str) -> None:
        deadline = time.monotonic() + WATCH_TIMEOUT_SECONDS
        while activities := _activities(watcher, name):
            assert time.monotonic() < deadline, f"a killed run's connections stay: {activities}"
            time.sleep(POLL_SECONDS)

    def _imports_deadline(self, point: KillPoint | None) -> float:
        if point is None or point.phase is not IMPORTS:
            return float("inf")
        assert self.startups, "a kill in the imports needs an earlier run's startup time: schedule another first"
        return point.fraction * min(self.startups)


def _activities(watcher: psycopg.Connection, name: str) -> list[Activity]:
    rows = watcher.execute(_ACTIVITY, (name,)).fetchall()
    return [Activity(state or "", query or "", wait == "Lock") for state, query, wait in rows]


class _Progress:
    """One child's progress through the phases, and whether it has reached its kill point."""

    def __init__(self, point: KillPoint | None, phases: Sequence[Phase], imports_deadline: float):
        self.point, self.phases, self.imports_deadline = point, phases, imports_deadline
        self.count = 0
        self.last_seen: str | None = None

    def kill_at(self, activities: list[Activity], elapsed: float) -> str | None:
        """The phase to kill the child in now, or None to go on."""
        if self.point is None:
            return None
        target = self.point.phase
        if target is IMPORTS:
            if activities:  # it connected first: killed in whatever it does now
                latest = self._latest(activities)
                return latest.name if latest else "connecting"
            return "imports" if elapsed >= self.imports_deadline else None
        seen = next((activity.query for activity in activities if target.seen(activity)), None)
        self.count += seen is not None and seen != self.last_seen  # a new statement, or the same one again later
        self.last_seen = seen
        if seen is not None and self.count > self.point.occurrence:
            return target.name
        latest = self._latest(activities)
        return latest.name if latest is not None and latest.rank > target.rank else None

    def _latest(self, activities: list[Activity]) -> Phase | None:
        """The latest-ranked phase the child is seen in (None if none)."""
        matched = [phase for phase in self.phases for activity in activities if phase.seen(activity)]
        return max(matched, key=lambda phase: phase.rank, default=None)
