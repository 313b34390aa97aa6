"""The schedule ticker: a background service that calls ``pgflow.tick_schedules`` every
``schedule_tick_interval`` seconds and logs each run it started.

Every worker ticks (on by default), and any number may tick at once: ``tick_schedules`` claims
the due schedules ``FOR UPDATE SKIP LOCKED``, so a schedule one ticker is starting is skipped by
the others (never waited for), a ticker that comes after finds it advanced, and
``schedule_runs``' key (schedule, scheduled time) refuses a second start of the same time. That
is the whole coordination: no advisory lock on top. A try-lock would only stop a second ticker
from looking, and a ticker stuck while holding it (a paused process, a long tick) would stop every
schedule; with row locks it holds back only the schedules it has claimed, and the other workers
tick the rest.

``clock`` (the ``schedule_clock`` option) gives the instant each tick passes as ``now``; by default
the database's own clock is used, so the workers' clocks do not matter.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from pgflow.client import AsyncPgflowSqlClient
from pgflow.errors import SchemaVersionError

__all__ = ["ScheduleTicker"]

logger = logging.getLogger(__name__)


class ScheduleTicker:
    """Ticks the schedules every ``interval`` seconds, after a random first delay of up to one
    interval (workers started together do not tick together). Finishes when the database has no
    ``tick_schedules`` (an older schema); other errors are logged and the next tick tries again."""

    name = "schedules"

    def __init__(
        self, sql: AsyncPgflowSqlClient, interval: float, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._sql = sql
        self._interval = interval
        self._clock = clock

    async def run(self) -> None:
        await asyncio.sleep(random.uniform(0, self._interval))
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except SchemaVersionError:
                logger.info("pgflow.tick_schedules is not installed: this worker does not tick schedules")
                return
            except Exception as exc:
                if _not_allowed(exc):
                    # a least-privilege worker role (pgflow.grant_worker) starts no runs: the ticking
                    # is left to a role that may (pg_cron's setup_schedules_cron, the owner's worker)
                    logger.info(
                        "this worker's database role may not start scheduled runs: it does not tick "
                        "schedules (tick them from a role that may, e.g. with pgflow.setup_schedules_cron())"
                    )
                    return
                logger.warning("ticking schedules failed: %s", exc)
            await asyncio.sleep(self._interval)

    async def tick(self) -> int:
        """One ``tick_schedules`` call; returns how many runs it started."""
        now = None if self._clock is None else self._clock()
        started = await self._sql.tick_schedules(now)
        for run in started:
            scheduled_for = run.scheduled_for.astimezone(UTC).isoformat()
            logger.info(
                "schedule %s started run %s (scheduled for %s)",
                run.schedule_slug,
                run.run_id,
                scheduled_for,
                extra={"schedule_slug": run.schedule_slug, "run_id": str(run.run_id), "scheduled_for": scheduled_for},
            )
        return len(started)


def _not_allowed(exc: BaseException) -> bool:
    """The database refused the tick for lack of privilege (SQLSTATE 42501), mapped or not."""
    return any(isinstance(e, psycopg.errors.InsufficientPrivilege) for e in (exc, exc.__cause__))
