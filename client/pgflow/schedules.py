"""A flow's schedules in Python: their settings (:class:`ScheduleDef`, built by the DSL's
``Flow(..., schedule=...)`` and ``flow.schedule(...)``), checked before any SQL runs, and the SQL
that ``Flow.compile()`` emits for them.

The checks say what the database would say: :func:`check_cron` raises the text of
``pgflow.cron_next`` for the same expression (``invalid cron expression "0 24 * * *": hour field
"24": 24 is out of range 0-23``; a test compares the two on a list of bad expressions), and
:func:`check_timezone` its text for an unknown zone. The database stays the judge: what these
accept it computes with (``pgflow.cron_next``); Python never computes a fire time.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from pgflow.errors import InvalidSchedule

__all__ = [
    "CATCHUP_POLICIES",
    "DEFAULT_CATCHUP_POLICY",
    "DEFAULT_CATCHUP_WINDOW",
    "DEFAULT_OVERLAP_POLICY",
    "DEFAULT_TIMEZONE",
    "OVERLAP_POLICIES",
    "ScheduleDef",
    "check_cron",
    "check_timezone",
]

OVERLAP_POLICIES: Final = ("allow", "skip")
CATCHUP_POLICIES: Final = ("latest", "all")
DEFAULT_TIMEZONE: Final = "UTC"
DEFAULT_OVERLAP_POLICY: Final = "allow"
DEFAULT_CATCHUP_POLICY: Final = "latest"
DEFAULT_CATCHUP_WINDOW: Final = dt.timedelta(days=1)
"""pgflow.create_schedule's default catchup_window."""

_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAYS_IN_MONTH: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February of a leap year
_ELEMENT = re.compile(r"^([^/]+)(?:/([0-9]+))?$")
_NUMBER = re.compile(r"^[0-9]{1,4}$")


def _field(cron: str, name: str, field: str, lo: int, hi: int, names: tuple[str, ...] = ()) -> set[int]:
    """The values of one field, or the error pgflow._cron_field raises for it."""
    prefix = f'invalid cron expression "{cron}": {name} field "{field}"'
    values: set[int] = set()
    for element in field.split(","):
        parts = _ELEMENT.match(element)
        if parts is None:
            raise InvalidSchedule(f'{prefix}: "{element}" is not a value, a range or a step')
        step = int(parts.group(2) or 1)
        if step == 0:
            raise InvalidSchedule(f"{prefix}: a step must be at least 1")
        if parts.group(1) == "*":
            start, end = lo, hi
        else:
            bounds: list[int] = []
            for token in parts.group(1).split("-"):
                if _NUMBER.match(token):
                    bound = int(token)
                elif names and token.lower() in names:
                    bound = lo + names.index(token.lower())
                else:
                    raise InvalidSchedule(f'{prefix}: "{token}" is not a number{" or a name" if names else ""}')
                if not lo <= bound <= hi:
                    raise InvalidSchedule(f"{prefix}: {bound} is out of range {lo}-{hi}")
                if len(bounds) == 2:
                    raise InvalidSchedule(f'{prefix}: "{parts.group(1)}" has more than two bounds')
                bounds.append(bound)
            start = bounds[0]
            if len(bounds) == 2:
                end = bounds[1]
            elif parts.group(2) is None:
                end = start
            else:
                end = min(hi, 6) if name == "day-of-week" else hi
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # a wrapping range (`fri-mon`, `50-10`)
            values.update(lo + (v - lo) % (hi - lo + 1) for v in range(start, end + hi - lo + 2, step))
    return values


def check_cron(cron: object) -> str:
    """Return ``cron`` if ``pgflow.cron_next`` accepts it, else raise InvalidSchedule with the
    message the database gives (naming the field), or saying that the day and month fields never
    meet (``0 0 30 2 *``)."""
    if not isinstance(cron, str):
        raise InvalidSchedule(f"invalid cron expression: it must be a string, got {type(cron).__name__}")
    expr = cron.strip(" ").lower()
    expr = _MACROS.get(expr, expr)
    if expr.startswith("@"):
        raise InvalidSchedule(
            f'invalid cron expression "{cron}": unknown macro (use @yearly, @annually, @monthly, @weekly, '
            "@daily, @midnight or @hourly)"
        )
    fields = re.split(r"\s+", expr)
    if expr == "" or len(fields) != 5:
        raise InvalidSchedule(
            f'invalid cron expression "{cron}": expected 5 fields (minute hour day-of-month month '
            f"day-of-week), got {0 if expr == '' else len(fields)}"
        )
    if any("?" in fields[i] for i in (0, 1, 3)):
        raise InvalidSchedule(
            f'invalid cron expression "{cron}": "?" is only allowed in the day-of-month and day-of-week fields'
        )
    fields = [("*" if f == "?" else f) for f in fields]
    _field(cron, "minute", fields[0], 0, 59)
    _field(cron, "hour", fields[1], 0, 23)
    days = _field(cron, "day-of-month", fields[2], 1, 31)
    months = _field(cron, "month", fields[3], 1, 12, _MONTHS)
    weekdays = {w % 7 for w in _field(cron, "day-of-week", fields[4], 0, 7, _WEEKDAYS)}
    dom_star = fields[2] == "*" or (len(days) == 31 and "*" in fields[4])
    dow_star = fields[4] == "*" or (len(weekdays) == 7 and "*" in fields[2])
    either_day = not dom_star and not dow_star
    if not either_day and not any(d <= _DAYS_IN_MONTH[m - 1] for m in months for d in days):
        raise InvalidSchedule(
            f'invalid cron expression "{cron}": no month in the month field has a day of the day-of-month field, '
            "so it never fires"
        )
    return cron


def check_timezone(timezone: object) -> str:
    """Return ``timezone`` if it is an IANA zone name, else raise InvalidSchedule with the text
    ``pgflow.cron_next`` gives. Without a zone database in Python (no tzdata), the database checks."""
    if not isinstance(timezone, str) or not timezone:
        raise InvalidSchedule(f"unknown time zone {timezone!r}: use an IANA name such as UTC or Europe/Paris")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        if zoneinfo.available_timezones():
            raise InvalidSchedule(
                f'unknown time zone "{timezone}": use an IANA name such as UTC or Europe/Paris (see pg_timezone_names)'
            ) from None
    return timezone


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleDef:
    """One schedule of a flow, as defined in code; built by :meth:`ScheduleDef.build`, which
    checks every setting (InvalidSchedule naming it)."""

    slug: str
    flow_slug: str
    cron: str
    timezone: str = DEFAULT_TIMEZONE
    input: Mapping[str, Any] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    overlap_policy: str = DEFAULT_OVERLAP_POLICY
    catchup_policy: str = DEFAULT_CATCHUP_POLICY
    catchup_window: dt.timedelta = DEFAULT_CATCHUP_WINDOW

    @classmethod
    def build(
        cls,
        slug: str,
        flow_slug: str,
        cron: str,
        *,
        timezone: str = DEFAULT_TIMEZONE,
        input: Mapping[str, Any] | None = None,
        overlap_policy: str = DEFAULT_OVERLAP_POLICY,
        catchup_policy: str = DEFAULT_CATCHUP_POLICY,
        catchup_window: dt.timedelta = DEFAULT_CATCHUP_WINDOW,
    ) -> ScheduleDef:
        if input is None:
            input = {}
        if not isinstance(input, Mapping):
            raise InvalidSchedule(
                f"input must be a dict (a JSON object; each run gets it with a \"scheduled_for\" key added), "
                f"got {type(input).__name__}"
            )
        try:
            json.dumps(input, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidSchedule(f"input must be JSON-serialisable: {exc}") from None
        if overlap_policy not in OVERLAP_POLICIES:
            raise InvalidSchedule(f"overlap_policy must be 'allow' or 'skip', got {overlap_policy!r}")
        if catchup_policy not in CATCHUP_POLICIES:
            raise InvalidSchedule(f"catchup_policy must be 'latest' or 'all', got {catchup_policy!r}")
        if not isinstance(catchup_window, dt.timedelta) or catchup_window <= dt.timedelta(0):
            raise InvalidSchedule(f"catchup_window must be a positive timedelta, got {catchup_window!r}")
        return cls(
            slug=slug,
            flow_slug=flow_slug,
            cron=check_cron(cron),
            timezone=check_timezone(timezone),
            input=MappingProxyType(copy.deepcopy(dict(input))),
            overlap_policy=overlap_policy,
            catchup_policy=catchup_policy,
            catchup_window=catchup_window,
        )

    def settings(self) -> dict[str, Any]:
        """The keyword arguments of the SQL client's ``ensure_schedule``."""
        return {
            "schedule_slug": self.slug,
            "flow_slug": self.flow_slug,
            "cron": self.cron,
            "input": dict(self.input),
            "timezone": self.timezone,
            "overlap_policy": self.overlap_policy,
            "catchup_policy": self.catchup_policy,
            "catchup_window": self.catchup_window,
        }

    def compile_sql(self) -> str:
        """One statement that creates the schedule, or, when it exists, brings it to this
        definition with ``update_schedule`` (which keeps it paused if it was): applying it twice
        changes nothing. The settings as named arguments, in a line of their own per branch."""
        args = ", ".join(
            f"{name} => {_literal(value)}"
            for name, value in self.settings().items()
            if name != "schedule_slug"
        )
        slug = _literal(self.slug)
        return (
            f"SELECT CASE WHEN EXISTS (SELECT 1 FROM pgflow.schedules WHERE schedule_slug = {slug})"
            f" THEN pgflow.update_schedule({slug}, {args})"
            f" ELSE pgflow.create_schedule({slug}, {args}) END;"
        )


def _literal(value: object) -> str:
    if isinstance(value, dt.timedelta):
        return f"interval '{_seconds(value)} seconds'"
    if isinstance(value, Mapping):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return "'" + text.replace("'", "''") + "'::jsonb"
    return "'" + str(value).replace("'", "''") + "'"


def _seconds(window: dt.timedelta) -> str:
    seconds = window.total_seconds()
    return str(int(seconds)) if seconds == int(seconds) else repr(seconds)
