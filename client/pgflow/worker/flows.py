"""What the worker needs of a flow and of its steps (pgflow.dsl's Flow and StepDef provide it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["FlowLike", "StepLike"]


class StepLike(Protocol):
    """What the worker needs of a step (pgflow.dsl.StepDef provides it). A step may also say
    ``takes_context = False`` (StepDef does, for a handler without a ``ctx`` parameter): the
    worker then builds no context for its tasks and passes None."""

    @property
    def slug(self) -> str: ...
    @property
    def step_type(self) -> str: ...
    @property
    def depends_on(self) -> tuple[str, ...]: ...
    @property
    def is_async(self) -> bool: ...
    def invoke(self, task_input: Any, ctx: Any = None) -> Any: ...
    def to_output(self, value: Any) -> Any: ...


class FlowLike(Protocol):
    """What the worker needs of a flow (pgflow.dsl.Flow provides it)."""

    @property
    def slug(self) -> str: ...
    @property
    def steps(self) -> Mapping[str, StepLike]: ...
    def shape(self) -> dict[str, Any]: ...
