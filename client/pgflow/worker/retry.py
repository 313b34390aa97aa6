"""Retrying across database outages: which errors are transient, how long to back off, and
reporting a task's result until it is recorded or the retry window has passed."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final

import psycopg

from pgflow.errors import InvalidOutput, TransientDatabaseError
from pgflow.types import StepTask
from pgflow.worker.context import task_extra

__all__ = ["REPORT_RETRY_WINDOW", "backoff", "is_transient", "report_with_retry"]

logger = logging.getLogger(__name__)

BACKOFF_START: Final = 0.1
BACKOFF_CAP: Final = 5.0
REPORT_RETRY_WINDOW: Final = 60.0
"""How long complete/fail calls are retried across a database outage."""


def backoff(failures: int) -> float:
    """Exponential backoff with jitter: 0.1 s, 0.2 s, ... capped at 5 s."""
    base: float = min(BACKOFF_CAP, BACKOFF_START * 2 ** max(0, failures - 1))
    return base * random.uniform(0.8, 1.2)


def is_transient(exc: BaseException) -> bool:
    """A lost connection or a restarting server: worth retrying."""
    return isinstance(exc, TransientDatabaseError | psycopg.OperationalError | psycopg.InterfaceError | OSError)


async def report_with_retry(
    call: Callable[[bool], Awaitable[object]], task: StepTask, window: float = REPORT_RETRY_WINDOW
) -> bool:
    """Send complete_task/fail_task (``call(is_retry)``), retrying transient errors for
    ``window`` seconds. A retry may replay a call that did commit (its acknowledgement was lost),
    so retries must be guarded by the task's attempt number: a report for an attempt that is over
    (retried, requeued or finished meanwhile) changes nothing. True once the call returned; False
    when it gave up (the task's message becomes visible again). InvalidOutput propagates."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + window
    failures = 0
    while True:
        try:
            if await call(failures > 0) is None:
                logger.info("task result not recorded: the task is no longer on this attempt", extra=task_extra(task))
            return True
        except asyncio.CancelledError:
            raise
        except InvalidOutput:
            raise
        except Exception as exc:
            failures += 1
            if not is_transient(exc) or loop.time() >= give_up_at:
                logger.error(
                    "could not report the task result (%s); its message will become visible again and "
                    "the task will be retried",
                    exc,
                    extra=task_extra(task),
                )
                return False
            logger.warning("reporting the task result failed (%s), retrying", exc, extra=task_extra(task))
            await asyncio.sleep(backoff(failures))
