"""Reporting a task's result: one :class:`Completer` interface, two implementations.

* :class:`InlineCompleter`: one ``pgflow.complete_task`` per result, retried across a database
  outage (guarded by the task's attempt number on a retry).
* :class:`BatchCompleter`: group commit. Results are sent in one call at a time, each carrying
  every result that arrived while the previous call was in flight (an idle worker reports at
  once; a busy one pays one round trip and one transaction per batch instead of per task):
  ``pgflow.complete_tasks_count``, or ``pgflow.complete_tasks_and_claim`` when the batch may
  claim, which also starts, for this worker and in the same transaction, the tasks the results
  make ready in the batch's main flow; with ``read_vt`` (a worker serving one flow), it then
  also reads and starts that flow's next queued tasks for the slots the claim left
  (``complete_tasks_claim_and_read``: one round trip and one commit where a completion call and
  a poll took two), unless two of the batch's results are of one run: tasks of one run (a map)
  complete under that run's row lock, which the read would hold longer, and the other workers
  completing the same map wait for it (a 10,000-task map took 3.3-3.8 s instead of 2.5-2.7 s
  at K = 4). Each task so started takes over the slot of one of the batch's submitters.
  When a batch call fails, its results fall back to the inline completer; when the batched
  functions are not installed, every later result does too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any, Final, Protocol

from pgflow.client import AsyncPgflowSqlClient, Completion
from pgflow.errors import SchemaVersionError
from pgflow.types import QueueMessage, StepTask
from pgflow.worker.connections import HotConnection
from pgflow.worker.retry import REPORT_RETRY_WINDOW, report_with_retry
from pgflow.worker.slots import Slot

__all__ = ["MAX_COMPLETION_BATCH", "BatchCompleter", "Completer", "InlineCompleter", "Outcome"]

logger = logging.getLogger(__name__)

MAX_COMPLETION_BATCH: Final = 100
"""Results per batched completion call."""


class Outcome(enum.Enum):
    """What became of a result."""

    NOT_RECORDED = "not recorded"  # the call failed or was given up: its message reappears
    RECORDED = "recorded"
    HANDED_OVER = "handed over"  # recorded, and the submitter's slot went to a task the call claimed


class Completer(Protocol):
    """Reports one task's result. Raises InvalidOutput (before any SQL) for an output that
    cannot be stored. May hand ``slot`` over to a claimed task (Outcome.HANDED_OVER)."""

    async def complete(self, task: StepTask, output: Any, slot: Slot) -> Outcome: ...


class InlineCompleter:
    """``pgflow.complete_task``, one result per call."""

    def __init__(self, sql: AsyncPgflowSqlClient, retry_window: float = REPORT_RETRY_WINDOW) -> None:
        self._sql = sql
        self._retry_window = retry_window

    async def complete(self, task: StepTask, output: Any, slot: Slot, *, guarded: bool = False) -> Outcome:
        """``guarded``: name the attempt even on the first call (it may replay one that committed)."""
        recorded = await report_with_retry(
            lambda retry: self._sql.complete_task(
                task.run_id,
                task.step_slug,
                task.task_index,
                output,
                expected_attempt=task.attempts_count if retry or guarded else None,
            ),
            task,
            self._retry_window,
        )
        return Outcome.RECORDED if recorded else Outcome.NOT_RECORDED


@dataclasses.dataclass(slots=True)
class _Pending:
    completion: Completion
    flow_slug: str
    slot: Slot
    outcome: asyncio.Future[Outcome]


# may_claim(flow_slug) -> the worker id that claims for this flow, or None (no claim).
MayClaim = Callable[[str], uuid.UUID | None]
# on_claimed(flow_slug, [(task, message, slot)]) runs the claimed tasks in the slots they took.
OnClaimed = Callable[[str, list[tuple[StepTask, QueueMessage, Slot]]], None]


class BatchCompleter:
    """Group-committed completions (see the module docstring). :meth:`run` is a worker service;
    :meth:`complete` falls back to ``fallback`` for what a batch could not record."""

    name = "complete"

    def __init__(
        self,
        sql: AsyncPgflowSqlClient,
        hot: HotConnection,
        fallback: InlineCompleter,
        may_claim: MayClaim,
        on_claimed: OnClaimed,
        read_vt: int | None = None,
    ) -> None:
        self._sql = sql
        self._hot = hot
        self._fallback = fallback
        self._may_claim = may_claim
        self._on_claimed = on_claimed
        self._read_vt = read_vt  # claiming batches also read the flow's queue, with this visibility timeout
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self.disabled = True  # until run() starts; again once the batched functions are missing

    async def complete(self, task: StepTask, output: Any, slot: Slot) -> Outcome:
        if self.disabled:
            return await self._fallback.complete(task, output, slot)
        completion = self._sql.completion(task.run_id, task.step_slug, task.task_index, output)
        outcome = await self.submit(completion, task.flow_slug, slot)
        if outcome is not Outcome.NOT_RECORDED:
            return outcome
        # The failed batch may have committed before its error was seen: name the attempt.
        return await self._fallback.complete(task, output, slot, guarded=True)

    def submit(self, completion: Completion, flow_slug: str, slot: Slot) -> asyncio.Future[Outcome]:
        """Queue a checked result for the next batch; the future tells what became of it."""
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(completion, flow_slug, slot, fut))
        self._wake.set()
        return fut

    async def run(self) -> None:
        self.disabled = False
        batch: list[_Pending] = []
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._pending:
                    batch = self._pending[:MAX_COMPLETION_BATCH]
                    del self._pending[:MAX_COMPLETION_BATCH]
                    await self.send(batch)
                    batch = []
        finally:
            self.disabled = True
            for p in (*batch, *self._pending):
                if not p.outcome.done():
                    p.outcome.set_result(Outcome.NOT_RECORDED)
            self._pending.clear()

    async def send(self, batch: list[_Pending]) -> None:
        """One batched call for ``batch``; sets each submitter's outcome."""
        # Claims are for one flow (a worker id serves one queue): the flow most of the batch's
        # results belong to. Any result's slot can take a claimed task, whatever its flow.
        flow_slug = batch[0].flow_slug
        if any(p.flow_slug != flow_slug for p in batch):
            flow_slug = Counter(p.flow_slug for p in batch).most_common(1)[0][0]
        worker_id = self._may_claim(flow_slug)
        completions = [p.completion for p in batch]
        claimed: list[tuple[StepTask, QueueMessage]] = []
        try:
            async with self._hot.use() as conn:
                if worker_id is None:
                    await self._sql.complete_tasks_count(completions, conn=conn)
                elif self._read_vt is not None and len({c.run_id for c in completions}) == len(completions):
                    claimed = await self._sql.complete_tasks_claim_and_read(
                        completions, worker_id, len(batch), flow_slug, self._read_vt, conn=conn
                    )
                else:
                    claimed = await self._sql.complete_tasks_and_claim(completions, worker_id, len(batch), conn=conn)
            outcome = Outcome.RECORDED
        except asyncio.CancelledError:
            raise
        except SchemaVersionError as exc:  # the batched functions are not installed
            logger.warning("batched completion unavailable (%s): reporting one task at a time", exc)
            self.disabled = True
            outcome = Outcome.NOT_RECORDED
        except Exception as exc:
            logger.info("batched completion of %d task(s) failed (%s): reporting them one by one", len(batch), exc)
            outcome = Outcome.NOT_RECORDED
        runs: list[tuple[StepTask, QueueMessage, Slot]] = []
        for i, p in enumerate(batch):
            if i < len(claimed):
                task, message = claimed[i]
                runs.append((task, message, p.slot.hand_over()))
                result = Outcome.HANDED_OVER
            else:
                result = outcome
            if not p.outcome.done():
                p.outcome.set_result(result)
        if runs:
            self._on_claimed(flow_slug, runs)
