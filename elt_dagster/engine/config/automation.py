"""When a pipeline runs: the settings only the orchestrator reads (cron, start/end window, timezone, how often the
source sensor looks, how strict the rejected-rows check is). They are top-level keys of the pipeline YAML, gathered
into `PipelineConfig.automation`; the engine never reads them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from elt_dagster.engine.errors import StrictModel

AUTOMATION_KEYS = (
    "schedule",
    "start_time",
    "end_time",
    "timezone",
    "monitor_interval_seconds",
    "max_rejected_ratio",
    "rejected_ratio_severity",
)
"""The top-level YAML keys that make up the automation section."""
AUTOMATION_SECTION = "(automation)"
"""Where the model keeps the section: a name no YAML writes, so an `automation:` key stays an unknown key."""

CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
WINDOW_DEFAULT_CRON = "0 * * * *"
"""A window without a schedule runs hourly inside it, as in the original design."""


def is_valid_cron(cron: str) -> bool:
    """A 5-field cron that can fire (the same rules Dagster's schedules apply: no seconds field, no February 30)."""
    from croniter import croniter  # only when a schedule is given: keeps `elt-dagster validate` quick

    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        return False
    fields = croniter.expand(cron)[0]
    return not (fields[3] == [2] and len(fields[2]) == 1 and fields[2][0] in (30, 31))


def parse_time(value: str, zone: ZoneInfo) -> datetime:
    """`YYYY-MM-DD HH:MM` or ISO 8601; a time without an offset is in `zone`."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a time: use 'YYYY-MM-DD HH:MM' or ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def checked_time(value: str | None) -> str | None:
    """`value` unchanged if it is a time `parse_time` reads (or None); a clear ValueError otherwise."""
    if value is not None:
        parse_time(value, ZoneInfo("UTC"))
    return value


def known_zone(value: str) -> str:
    """`value` unchanged if it names an IANA timezone; a clear ValueError otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return value


class Automation(StrictModel):
    """When the pipeline runs and how its loads are judged; read by the Dagster layer only."""

    schedule: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    timezone: str = "UTC"
    monitor_interval_seconds: int = Field(default=60, ge=5, le=86_400)
    max_rejected_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    rejected_ratio_severity: Literal["warn", "error"] = "warn"

    _valid_time = field_validator("start_time", "end_time")(classmethod(lambda cls, value: checked_time(value)))
    _known_zone = field_validator("timezone")(classmethod(lambda cls, value: known_zone(value)))

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cron = CRON_ALIASES.get(value.strip().lower(), value.strip())
        if not is_valid_cron(cron):
            raise ValueError(f"{value!r} is not a cron expression (e.g. '*/15 * * * *' or '@hourly')")
        return cron

    @model_validator(mode="after")
    def _end_after_start(self) -> Automation:
        start, end = self.window()
        if start and end and end <= start:
            raise ValueError(f"end_time ({self.end_time}) must be after start_time ({self.start_time})")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """(start, end) as aware datetimes, either may be None."""
        start = parse_time(self.start_time, self.zone) if self.start_time else None
        end = parse_time(self.end_time, self.zone) if self.end_time else None
        return start, end

    def window_problem(self, moment: datetime) -> str | None:
        """Why `moment` is outside the start/end window, or None when it is inside."""
        start, end = self.window()
        # Compared in UTC: aware datetimes sharing one tzinfo compare by wall clock, which is wrong on DST days.
        instant = moment.astimezone(UTC)
        if start and instant < start.astimezone(UTC):
            return f"before start_time {start.isoformat()}"
        if end and instant >= end.astimezone(UTC):
            return f"after end_time {end.isoformat()}"
        return None

    @property
    def cron(self) -> str | None:
        """The schedule's cron, hourly when only a window is given; None: no schedule."""
        if self.schedule:
            return self.schedule
        return WINDOW_DEFAULT_CRON if (self.start_time or self.end_time) else None
