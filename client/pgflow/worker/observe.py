"""What watches each task: the user's hooks, the task's span, the Prometheus metrics. The executor
asks :class:`Observers` for one :class:`TaskObservation` per task and tells it what happens; when
nothing watches (no hooks, no tracing, no metrics) it gets None, and skips every call."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from pgflow.types import StepTask
from pgflow.worker.hooks import Hooks, TaskCompleted, TaskFailed, TaskStarted
from pgflow.worker.metrics import TaskMetrics
from pgflow.worker.tracing import TaskTracer

__all__ = ["Observers", "TaskObservation"]


class Observers:
    def __init__(
        self,
        hooks: Hooks,
        worker_ids: Mapping[str, uuid.UUID],
        tracer: TaskTracer | None = None,
        metrics: TaskMetrics | None = None,
    ) -> None:
        self.hooks = hooks
        self.worker_ids = worker_ids
        self.tracer = tracer
        self.metrics = metrics

    def task(self, flow_slug: str, task: StepTask) -> TaskObservation | None:
        """The task's observation (None when nothing watches)."""
        if self.tracer is None and self.metrics is None and not self.hooks.has_any():
            return None
        return TaskObservation(self, flow_slug, task)


class TaskObservation:
    """One task's observation: :meth:`start` before the handler, :meth:`running` around it, then
    :meth:`completed` or :meth:`failed` once reported, and :meth:`finish` (or :meth:`abandon`)."""

    __slots__ = ("_end", "_error", "_error_message", "_obs", "_outcome", "_output", "_span", "_started", "info")

    def __init__(self, observers: Observers, flow_slug: str, task: StepTask) -> None:
        self._obs = observers
        self.info = TaskStarted(
            flow_slug=task.flow_slug,
            run_id=task.run_id,
            step_slug=task.step_slug,
            task_index=task.task_index,
            attempt=task.attempts_count or 1,
            worker_id=observers.worker_ids[flow_slug],
        )
        self._started = time.perf_counter()
        self._end: float | None = None
        self._span: Any = None
        self._outcome: str | None = None
        self._output: Any = None
        self._error: BaseException | None = None
        self._error_message = ""

    async def start(self) -> None:
        """Open the span (its parent: the run's trace context) and run the before-task hooks."""
        tracer = self._obs.tracer
        if tracer is not None:
            i = self.info
            self._span = tracer.start(
                f"pgflow.task {i.flow_slug}/{i.step_slug}",
                {
                    "pgflow.flow_slug": i.flow_slug,
                    "pgflow.run_id": str(i.run_id),
                    "pgflow.step_slug": i.step_slug,
                    "pgflow.task_index": i.task_index,
                    "pgflow.attempt": i.attempt,
                    "pgflow.worker_id": str(i.worker_id),
                },
                await tracer.parent(i.run_id),
            )
        if self._obs.hooks.has("before_task"):
            with self.running():
                await self._obs.hooks.fire("before_task", self.info)
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The task's span is current inside (the handler runs here)."""
        if self._span is None or self._obs.tracer is None:
            yield
            return
        with self._obs.tracer.use(self._span):
            yield

    def handler_returned(self) -> None:
        self._end = time.perf_counter()

    def completed(self, output: Any) -> None:
        self._outcome, self._output = "completed", output

    def failed(self, error: BaseException | None, error_message: str) -> None:
        self._outcome, self._error, self._error_message = "failed", error, error_message

    @property
    def duration(self) -> float:
        return (self._end if self._end is not None else time.perf_counter()) - self._started

    def abandon(self) -> None:
        """Cancelled (the worker is stopping hard): end the span, run no hooks."""
        if self._span is not None and self._obs.tracer is not None:
            self._obs.tracer.end(self._span, "abandoned", None, None)
            self._span = None

    async def finish(self) -> None:
        """Record the outcome (span, metrics) and run the after-task or error hooks."""
        outcome, duration, obs = self._outcome, self.duration, self._obs
        if outcome is None:  # not reported (the report was given up): nothing to say
            self.abandon()
            return
        if self._span is not None and obs.tracer is not None:
            obs.tracer.end(self._span, outcome, self._error, self._error_message)
            self._span = None
        i = self.info
        if obs.metrics is not None:
            obs.metrics.task_done(i.flow_slug, i.step_slug, duration, failed=outcome == "failed")
        base = {f: getattr(i, f) for f in ("flow_slug", "run_id", "step_slug", "task_index", "attempt", "worker_id")}
        if outcome == "completed":
            if obs.hooks.has("after_task"):
                await obs.hooks.fire("after_task", TaskCompleted(**base, duration=duration, output=self._output))
        elif obs.hooks.has("on_task_error"):
            await obs.hooks.fire(
                "on_task_error",
                TaskFailed(**base, duration=duration, error=self._error, error_message=self._error_message),
            )
