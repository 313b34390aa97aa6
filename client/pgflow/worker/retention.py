"""Retention: the maintenance job that deletes finished runs older than the worker's
``retention`` (``Worker(retention="7d")``, ``pgflow worker --retention 7d``).

Each sweep calls ``pgflow.prune_runs(retention, PRUNE_BATCH)`` (one short transaction per call,
so it runs beside busy workers: it never touches a started run, and skips runs another
transaction holds) until a call deletes less than a batch or ``PRUNE_BATCHES_PER_SWEEP`` calls
were made; what is left waits for the next sweep. Several workers of one database may prune at
once: each takes different runs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from pgflow.client import DEFAULT_PRUNE_BATCH, AsyncPgflowSqlClient
from pgflow.worker.services import MaintenanceJob

__all__ = ["PRUNE_BATCH", "PRUNE_BATCHES_PER_SWEEP", "prune_runs_job"]

logger = logging.getLogger(__name__)

PRUNE_BATCH: Final = DEFAULT_PRUNE_BATCH
"""Runs one ``pgflow.prune_runs`` call deletes at most (1000)."""
PRUNE_BATCHES_PER_SWEEP: Final = 10
"""Calls of one sweep at most (so a backlog is worked off over several sweeps)."""


def prune_runs_job(
    sql: AsyncPgflowSqlClient,
    retention: timedelta,
    batch: int = PRUNE_BATCH,
    batches: int = PRUNE_BATCHES_PER_SWEEP,
) -> MaintenanceJob:
    """The ``prune_runs`` maintenance job: finished runs that finished more than ``retention``
    ago are deleted, at most ``batch`` per call and ``batches`` calls per sweep."""

    async def prune() -> None:
        total = 0
        for _ in range(batches):
            deleted = await sql.prune_runs(retention, batch)
            total += deleted
            if deleted < batch:
                break
        if total:
            logger.info("pruned %d finished run(s) older than %s", total, retention)

    return MaintenanceJob("prune_runs", prune)
