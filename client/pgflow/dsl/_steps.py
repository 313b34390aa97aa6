"""Flow and step options, handler signatures and input parsers, and :class:`StepDef`."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import functools
import inspect
import sys
import typing
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, cast

if TYPE_CHECKING:
    pass

from pgflow.dsl._validation import FailureMode, FlowDefinitionError, Handler, StepType

# --------------------------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FlowOptions:
    """Flow-level defaults; None means "let create_flow choose" (3 attempts, 5 s, 60 s)."""

    max_attempts: int | None = None
    base_delay: int | None = None
    timeout: int | None = None
    retry_jitter: float | None = None  # run control: pgflow.set_retry_policy, not in the shape
    max_retry_delay: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class StepOptions:
    """Per-step options; None means "not set" (runtime options inherit the flow's)."""

    max_attempts: int | None = None
    base_delay: int | None = None
    timeout: int | None = None
    start_delay: int | None = None
    if_: Mapping[str, Any] | None = None
    if_not: Mapping[str, Any] | None = None
    when_unmet: FailureMode | None = None
    when_exhausted: FailureMode | None = None
    retry_jitter: float | None = None  # run control: pgflow.set_retry_policy, not in the shape
    max_retry_delay: int | None = None


class _Unset:
    pass


_NO_PARSER: Final = _Unset()


def _positional_arity(handler: Handler) -> int:
    """How many arguments to pass: 0, 1 (input) or 2 (input, ctx)."""
    try:
        sig = inspect.signature(handler)
    except (TypeError, ValueError):  # builtins without a signature: assume (input)
        return 1
    n = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return min(n, 2)


def _check_handler_signature(slug: str, handler: Handler) -> None:
    """A handler is called as handler(input) or handler(input, ctx): refuse one that cannot be."""
    try:
        sig = inspect.signature(handler)
    except (TypeError, ValueError):
        return
    required_pos = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    required_kw = [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if len(required_pos) > 2 or required_kw:
        raise FlowDefinitionError(
            f'Step "{slug}": the handler must take (input) or (input, ctx), but its signature is {sig}'
        )


def _first_param_annotation(handler: Handler) -> Any:
    try:
        sig = inspect.signature(handler)
    except (TypeError, ValueError):
        return None
    params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not params or params[0].annotation is inspect.Parameter.empty:
        return None
    ann = params[0].annotation
    if isinstance(ann, str):  # `from __future__ import annotations`: resolve it
        target = inspect.unwrap(handler)
        if not (inspect.isfunction(target) or inspect.ismethod(target)):
            target = getattr(target, "__call__", target)  # noqa: B004  (callable objects)
        try:
            hints = typing.get_type_hints(target)
        except Exception:  # an unresolvable forward reference: no parsing, not an error
            return None
        ann = hints.get(params[0].name)
    return ann


def _is_pydantic_model(tp: Any) -> bool:
    pydantic = sys.modules.get("pydantic")  # a model class implies pydantic is already imported
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _make_parser(handler: Handler) -> Callable[[Any], Any] | None:
    """The input parser for a handler's first-parameter annotation, or None to pass as is."""
    tp = _first_param_annotation(handler)
    if tp is None:
        return None
    if _is_pydantic_model(tp):
        return cast(Callable[[Any], Any], tp.model_validate)
    is_dc = isinstance(tp, type) and dataclasses.is_dataclass(tp)
    # typing.is_typeddict misses typing_extensions.TypedDict before 3.12: duck-type instead.
    is_td = isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")
    if not (is_dc or is_td):
        return None

    @functools.cache
    def adapter() -> Any:
        try:
            from pydantic import TypeAdapter
        except ImportError:
            return None
        try:
            return TypeAdapter(tp)
        except Exception:  # e.g. typing.TypedDict on Python < 3.12: pass the input through
            return None

    def parse(value: Any) -> Any:
        ta = adapter()
        if ta is not None:
            return ta.validate_python(value)
        if is_dc and isinstance(value, Mapping):  # without pydantic: fields by name, no coercion
            return tp(**value)
        return value

    return parse


def to_jsonable(value: Any) -> Any:
    """Convert a handler's result to plain JSON data (dict/list/str/int/float/bool/None):
    pydantic models via ``model_dump(mode="json")``, dataclasses field by field, tuples and
    sets as lists, datetimes/dates/times as ISO strings, UUID and Decimal as strings, enums as
    their values. Anything else raises TypeError."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"a {type(value).__name__} is not JSON-serialisable")


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class StepDef:
    """One step of a flow, as the worker runs it.

    ``invoke(task_input, ctx)`` calls the handler with the input the worker gives it (the flow
    input for a root single step, the ``{dep: output}`` object for a dependent single step, the
    element for a map task), parsed into the annotated model when there is one; ``ctx`` is
    passed only to handlers that take two parameters. It returns the raw result, or, when
    ``is_async``, a coroutine that the caller awaits (input parsing errors then surface when it
    is awaited). ``to_output(result)`` turns the result into JSON data for ``complete_task``.
    """

    flow_slug: str
    slug: str
    step_type: StepType
    depends_on: tuple[str, ...]
    handler: Handler
    options: StepOptions
    index: int
    is_async: bool = dataclasses.field(init=False)
    _arity: int = dataclasses.field(init=False, repr=False)
    _parser: Callable[[Any], Any] | _Unset | None = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        h = self.handler
        is_async = inspect.iscoroutinefunction(h) or (
            not inspect.isfunction(h) and inspect.iscoroutinefunction(getattr(h, "__call__", None))  # noqa: B004
        )
        object.__setattr__(self, "is_async", is_async)
        object.__setattr__(self, "_arity", _positional_arity(h))
        object.__setattr__(self, "_parser", _NO_PARSER)

    @property
    def is_root(self) -> bool:
        return not self.depends_on

    @property
    def takes_context(self) -> bool:
        """The handler has a ``ctx`` parameter (the worker builds a context only for those)."""
        return self._arity >= 2

    def _parse(self, task_input: Any) -> Any:
        parser = self._parser
        if isinstance(parser, _Unset):  # resolved on first use: annotations may be forward refs
            parser = _make_parser(self.handler)
            object.__setattr__(self, "_parser", parser)
        return task_input if parser is None else parser(task_input)

    def _call(self, value: Any, ctx: Any) -> Any:
        if self._arity == 0:
            return self.handler()
        if self._arity == 1:
            return self.handler(value)
        return self.handler(value, ctx)

    def invoke(self, task_input: Any, ctx: Any = None) -> Any:
        if self.is_async:
            return self._invoke_async(task_input, ctx)
        return self._call(self._parse(task_input), ctx)

    async def _invoke_async(self, task_input: Any, ctx: Any) -> Any:
        return await cast(Awaitable[Any], self._call(self._parse(task_input), ctx))

    def to_output(self, value: Any) -> Any:
        try:
            return to_jsonable(value)
        except TypeError as exc:
            raise TypeError(f"step {self.slug!r} of flow {self.flow_slug!r} returned a non-JSON value: {exc}") from None

