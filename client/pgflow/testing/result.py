"""What :func:`pgflow.testing.run_to_completion` returns: the run, each step and each task, and the
exceptions the handlers raised (kept as objects, tracebacks included, for the test to inspect)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgflow.types import RunStatus, StepStatus, TaskStatus

__all__ = ["FlowRunResult", "HandlerError", "StepResult", "TaskResult"]


@dataclass(frozen=True, slots=True)
class HandlerError:
    """An exception a handler raised: the task's attempt was reported failed with ``message``."""

    step_slug: str
    task_index: int
    attempt: int
    exception: BaseException
    message: str
    """What went to ``pgflow.fail_task``: ``"<ExceptionType>: <text>"``, as the worker reports it."""


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One task of a step (a map step has one per element) as it ended."""

    task_index: int
    status: TaskStatus
    attempts: int
    output: Any
    error_message: str | None


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of the run as it ended. ``output`` is the step's output (for a map step, the list
    of its tasks' outputs, in element order); ``tasks`` are its tasks by index."""

    slug: str
    status: StepStatus
    output: Any
    error_message: str | None
    skip_reason: str | None
    tasks: tuple[TaskResult, ...]

    @property
    def attempts(self) -> int:
        """The most attempts any of the step's tasks took (0 when it ran none)."""
        return max((t.attempts for t in self.tasks), default=0)


@dataclass(frozen=True, slots=True)
class FlowRunResult:
    """A run driven to its end: its status and output, its steps by slug (in the flow's definition
    order), and the exceptions its handlers raised, in the order they were raised."""

    run_id: uuid.UUID
    flow_slug: str
    status: RunStatus
    input: Any
    output: Any
    steps: Mapping[str, StepResult]
    handler_errors: tuple[HandlerError, ...]

    @property
    def completed(self) -> bool:
        return self.status is RunStatus.COMPLETED

    @property
    def outputs(self) -> dict[str, Any]:
        """``{step_slug: output}`` of the steps that completed."""
        return {s.slug: s.output for s in self.steps.values() if s.status is StepStatus.COMPLETED}

    @property
    def errors(self) -> dict[str, str]:
        """``{step_slug: error_message}`` of the steps that failed."""
        return {s.slug: s.error_message or "" for s in self.steps.values() if s.status is StepStatus.FAILED}

    def step(self, slug: str) -> StepResult:
        """The step ``slug`` (KeyError naming the run's steps when there is none)."""
        try:
            return self.steps[slug]
        except KeyError:
            raise KeyError(
                f"run of flow {self.flow_slug!r} has no step {slug!r}; its steps: {list(self.steps)}"
            ) from None
