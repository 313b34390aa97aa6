"""Start-up: the schema check, each flow's compilation (or verification) and the worker rows,
retried across transient database errors until done or the worker is told to stop."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence

from pgflow.client import AsyncPgflowSqlClient
from pgflow.errors import FlowShapeMismatch
from pgflow.migrator import require_schema_version
from pgflow.schedules import ScheduleDef
from pgflow.types import CompileStatus
from pgflow.worker.flows import FlowLike
from pgflow.worker.lifecycle import Lifecycle
from pgflow.worker.options import WorkerOptions
from pgflow.worker.retry import backoff, is_transient

__all__ = ["Registrar", "start_up"]

logger = logging.getLogger(__name__)


class Registrar:
    """The worker's rows in ``pgflow.workers``: one per flow (a row holds one queue)."""

    def __init__(self, sql: AsyncPgflowSqlClient, worker_ids: Mapping[str, uuid.UUID], function_name: str) -> None:
        self._sql = sql
        self._worker_ids = worker_ids
        self._function_name = function_name
        self.registered: set[str] = set()

    async def register(self, flow_slug: str) -> None:
        await self._sql.register_worker(self._worker_ids[flow_slug], flow_slug, self._function_name)
        self.registered.add(flow_slug)


async def start_up(
    sql: AsyncPgflowSqlClient,
    flows: Mapping[str, FlowLike],
    options: WorkerOptions,
    registrar: Registrar,
    lifecycle: Lifecycle,
) -> bool:
    """Schema check, compilation, registration. False: the worker was told to stop first.
    Raises SchemaVersionError, FlowShapeMismatch or FlowNotFound when the database does not fit."""
    failures = 0
    while not lifecycle.stopping:
        try:
            require_schema_version(await sql.schema_version())
            for flow in flows.values():
                await _compile(sql, flow, options)
            for slug in flows:
                await registrar.register(slug)
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            logger.warning("database unavailable while starting, retrying: %s", exc)
            await lifecycle.sleep(backoff(failures))
    return False


async def _compile(sql: AsyncPgflowSqlClient, flow: FlowLike, options: WorkerOptions) -> None:
    if options.compile == "off":
        return
    shape = flow.shape()
    if options.compile == "verify":
        result = await sql.verify_flow_shape(flow.slug, shape)
        hint = "compile='verify' never changes the database: compile the new definition (or use a new slug)"
    else:
        result = await sql.ensure_flow_compiled(flow.slug, shape, options.allow_data_loss)
        hint = (
            "start the worker with allow_data_loss=True to drop this flow with all its runs and recompile "
            "it, or give the changed flow a new slug"
        )
    if result.status is CompileStatus.MISMATCH:
        raise FlowShapeMismatch(flow.slug, result.differences, hint)
    if options.compile == "auto":
        await _apply_retry_policies(sql, flow)
    logger.info("flow %s: %s", flow.slug, result.status.value, extra={"flow_slug": flow.slug})
    if options.compile == "auto":
        await _ensure_schedules(sql, flow)


async def _ensure_schedules(sql: AsyncPgflowSqlClient, flow: FlowLike) -> None:
    """The flow's schedules (pgflow.dsl's ``schedule=``/``flow.schedule()``), created or brought to
    their definition; a schedule removed from the code is left in the database (delete it with
    ``pgflow schedule delete``)."""
    schedules: Sequence[ScheduleDef] = getattr(flow, "schedules", ())
    check = getattr(flow, "check_schedulable", None)
    if schedules and check is not None:
        check()
    for sched in schedules:
        row = await sql.ensure_schedule(**sched.settings())
        logger.info(
            "schedule %s of flow %s: %s in %s, next at %s%s",
            row.schedule_slug, flow.slug, row.cron, row.timezone, row.next_scheduled_start_time.isoformat(),
            "" if row.enabled else " (paused)",
            extra={"flow_slug": flow.slug, "schedule_slug": row.schedule_slug},
        )


async def _apply_retry_policies(sql: AsyncPgflowSqlClient, flow: FlowLike) -> None:
    """Run control: the flow's opt-in retry jitter / max delay (pgflow.dsl's ``retry_policies()``;
    not part of the shape, so set again on every start: a recompiled flow's rows are new)."""
    policies = getattr(flow, "retry_policies", None)
    for step_slug, jitter, max_delay in policies() if callable(policies) else ():
        await sql.set_retry_policy(flow.slug, step_slug, retry_jitter=jitter, max_retry_delay=max_delay)
