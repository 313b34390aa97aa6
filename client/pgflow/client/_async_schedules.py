"""Schedules, the async side: create, update, ensure, pause, resume, delete and list
``pgflow.schedules`` rows, tick them, and the coming times of a cron expression. Written by hand;
``_sync_schedules.py`` is generated from it by ``scripts/async_to_sync.py``.

:class:`AsyncSchedules` is a mixin of :class:`~pgflow.client.AsyncPgflowSqlClient`: it uses the
client's ``_fetch``, ``_transaction`` and ``_settings``. Errors: InvalidSchedule (a bad slug, cron
expression, zone, input or policy), ScheduleNotFound, FlowNotFound (see
:func:`pgflow.errors.map_sql_error`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import DictRow, dict_row

from pgflow import queries as q
from pgflow.client._async_io import execute_as
from pgflow.client._base import schedule_params
from pgflow.client._values import schedule_row
from pgflow.schedules import DEFAULT_CATCHUP_WINDOW
from pgflow.types import Schedule, ScheduledRun

if TYPE_CHECKING:
    from pgflow.client._base import ClientSettings, Params, Query


class AsyncSchedules:
    """The schedule methods of the SQL client (a mixin of it)."""

    if TYPE_CHECKING:
        _settings: ClientSettings

        async def _fetch(
            self, query: Query, params: Params | None, conn: psycopg.AsyncConnection[Any] | None, **context: Any
        ) -> list[DictRow]: ...

        def _transaction(
            self, conn: psycopg.AsyncConnection[Any] | None, **context: Any
        ) -> contextlib.AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]: ...

    async def create_schedule(
        self,
        schedule_slug: str,
        flow_slug: str,
        cron: str,
        input: Mapping[str, Any] | None = None,
        *,
        timezone: str = "UTC",
        overlap_policy: str = "allow",
        catchup_policy: str = "latest",
        catchup_window: dt.timedelta | str = DEFAULT_CATCHUP_WINDOW,
        enabled: bool = True,
        start_after: dt.datetime | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Schedule:
        """``pgflow.create_schedule``: start ``flow_slug`` at every time ``cron`` names in
        ``timezone``, each run's input being ``input`` plus ``"scheduled_for"``. The first time is
        the first match after ``start_after`` (default: now). InvalidSchedule (bad slug, cron,
        zone, input, policy, or the slug is taken) or FlowNotFound: nothing is written."""
        params = schedule_params(
            schedule_slug, input={} if input is None else input, max_bytes=self._settings.max_output_bytes,
            catchup_window=catchup_window, flow_slug=flow_slug, cron=cron, timezone=timezone,
            overlap_policy=overlap_policy, catchup_policy=catchup_policy, enabled=enabled, start_after=start_after,
        )
        return schedule_row(await self._fetch(q.CREATE_SCHEDULE, params, conn, schedule_slug=schedule_slug))

    async def update_schedule(
        self,
        schedule_slug: str,
        *,
        flow_slug: str | None = None,
        cron: str | None = None,
        input: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        overlap_policy: str | None = None,
        catchup_policy: str | None = None,
        catchup_window: dt.timedelta | str | None = None,
        enabled: bool | None = None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Schedule:
        """``pgflow.update_schedule``: change the settings given (None keeps the current value); a
        new expression or zone, or enabling again, moves the next time to the first match after
        now. ScheduleNotFound, InvalidSchedule."""
        params = schedule_params(
            schedule_slug, input=input, max_bytes=self._settings.max_output_bytes, catchup_window=catchup_window,
            flow_slug=flow_slug, cron=cron, timezone=timezone, overlap_policy=overlap_policy,
            catchup_policy=catchup_policy, enabled=enabled,
        )
        return schedule_row(await self._fetch(q.UPDATE_SCHEDULE, params, conn, schedule_slug=schedule_slug))

    async def ensure_schedule(
        self,
        schedule_slug: str,
        flow_slug: str,
        cron: str,
        input: Mapping[str, Any] | None = None,
        *,
        timezone: str = "UTC",
        overlap_policy: str = "allow",
        catchup_policy: str = "latest",
        catchup_window: dt.timedelta | str = DEFAULT_CATCHUP_WINDOW,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> Schedule:
        """Create the schedule, or bring an existing one to these settings (a compiled flow's
        schedule: idempotent). ``enabled`` is left as it is, so a paused schedule stays paused.
        Callers at once are serialised by an advisory lock on the slug."""
        params = schedule_params(
            schedule_slug, input={} if input is None else input, max_bytes=self._settings.max_output_bytes,
            catchup_window=catchup_window, flow_slug=flow_slug, cron=cron, timezone=timezone,
            overlap_policy=overlap_policy, catchup_policy=catchup_policy, lock_class=q.SCHEDULE_LOCK_CLASS,
        )
        async with self._transaction(conn, schedule_slug=schedule_slug) as c:
            await execute_as(c, q.LOCK_SCHEDULE_SLUG, params, dict_row)
            return schedule_row(await execute_as(c, q.ENSURE_SCHEDULE, params, dict_row))

    async def delete_schedule(
        self, schedule_slug: str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> Schedule:
        """``pgflow.delete_schedule``: the schedule's last state (its runs are kept). ScheduleNotFound."""
        params = {"schedule_slug": schedule_slug}
        return schedule_row(await self._fetch(q.DELETE_SCHEDULE, params, conn, schedule_slug=schedule_slug))

    async def pause_schedule(self, schedule_slug: str, *, conn: psycopg.AsyncConnection[Any] | None = None) -> Schedule:
        """``pgflow.pause_schedule``: nothing starts until resumed. ScheduleNotFound."""
        params = {"schedule_slug": schedule_slug}
        return schedule_row(await self._fetch(q.PAUSE_SCHEDULE, params, conn, schedule_slug=schedule_slug))

    async def resume_schedule(
        self, schedule_slug: str, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> Schedule:
        """``pgflow.resume_schedule``: enabled again, from the first time after now (no catch-up of
        the paused times). ScheduleNotFound."""
        params = {"schedule_slug": schedule_slug}
        return schedule_row(await self._fetch(q.RESUME_SCHEDULE, params, conn, schedule_slug=schedule_slug))

    async def list_schedules(
        self, *, flow_slug: str | None = None, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> list[Schedule]:
        """Every schedule (or those of one flow), by slug."""
        rows = await self._fetch(q.LIST_SCHEDULES, {"flow_slug": flow_slug}, conn, flow_slug=flow_slug)
        return [Schedule.from_row(r) for r in rows]

    async def tick_schedules(
        self, now: dt.datetime | None = None, *, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> list[ScheduledRun]:
        """``pgflow.tick_schedules``: start every run the schedules owe at ``now`` (default: the
        database's clock) and advance them; the runs started. Safe from any number of callers."""
        query, params = (q.TICK_SCHEDULES_NOW, None) if now is None else (q.TICK_SCHEDULES, {"now": now})
        return [ScheduledRun.from_row(r) for r in await self._fetch(query, params, conn)]

    async def cron_next(
        self,
        cron: str,
        after: dt.datetime | None = None,
        timezone: str = "UTC",
        *,
        count: int = 1,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[dt.datetime]:
        """``pgflow.cron_next`` ``count`` times: the next ``count`` instants the expression names in
        the zone, strictly after ``after`` (default: now). InvalidSchedule names a bad field or zone."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        params = {"cron": cron, "after": after or dt.datetime.now(dt.UTC), "timezone": timezone, "count": count}
        return [r["at"] for r in await self._fetch(q.CRON_NEXT_TIMES, params, conn)]

