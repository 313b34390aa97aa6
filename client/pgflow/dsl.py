"""The typed flow DSL: define a DAG of Python handlers, compile it to pgflow's SQL.

A Python port of pgflow's TypeScript DSL (``@pgflow/dsl``), with decorators::

    from pgflow.dsl import Flow

    flow = Flow("greet_user", max_attempts=3)

    @flow.step("full_name")
    def full_name(run: dict[str, str]) -> str:          # root step: gets the flow input
        return f"{run['first']} {run['last']}"

    @flow.step("greeting", depends_on=["full_name"])
    def greeting(deps: dict[str, str]) -> str:          # dependent step: {dep_slug: output}
        return f"Hello, {deps['full_name']}!"

    flow.compile()   # -> ["SELECT pgflow.create_flow('greet_user', max_attempts => 3);", ...]
    flow.shape()     # -> the JSON shape pgflow.ensure_flow_compiled() compares

The definition is validated as it is built (slugs, duplicates, unknown dependencies, option
ranges, condition patterns), so a flow that builds is a flow the SQL accepts. ``compile()`` and
``shape()`` follow pgflow's ``compileFlow`` and ``extractFlowShape`` byte for byte; JSON is
rendered exactly as JavaScript's ``JSON.stringify`` would (see :func:`js_json`).

Handlers take ``(input)`` or ``(input, ctx)``, sync or async. When the first parameter is
annotated with a pydantic model (or a dataclass / TypedDict, parsed through pydantic when it is
installed) the input is validated into it; a returned model is dumped with
``model_dump(mode="json")``. pydantic is optional and never imported by this module unless a
handler asks for it.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import enum
import functools
import inspect
import json
import math
import re
import sys
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from pgflow.errors import InvalidSchedule, PgflowError
from pgflow.schedules import (
    DEFAULT_CATCHUP_POLICY,
    DEFAULT_CATCHUP_WINDOW,
    DEFAULT_OVERLAP_POLICY,
    DEFAULT_TIMEZONE,
    ScheduleDef,
)

if TYPE_CHECKING:
    from pgflow.serving import Serving

__all__ = [
    "FailureMode",
    "Flow",
    "FlowDefinitionError",
    "FlowOptions",
    "StepDef",
    "StepOptions",
    "StepType",
    "js_json",
    "to_jsonable",
    "validate_slug",
]

StepType = Literal["single", "map"]
FailureMode = Literal["fail", "skip", "skip-cascade"]
FAILURE_MODES: Final[tuple[str, ...]] = ("fail", "skip", "skip-cascade")
MAX_SLUG_LENGTH: Final = 128
RESERVED_SLUGS: Final[tuple[str, ...]] = ("run",)
_SLUG_CHARS = re.compile(r"^[A-Za-z0-9_]+$")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Callable[..., Any])


class FlowDefinitionError(PgflowError, ValueError):
    """A flow definition is invalid: a bad slug, a duplicate step, an unknown dependency, an
    option out of range or a malformed condition. Raised while the flow is being built."""


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_slug(slug: object, what: str = "Slug") -> str:
    """Check a flow or step slug against pgflow's rules (the DSL's ``validateSlug`` and the SQL
    ``pgflow.is_valid_slug``): a non-empty string of at most 128 letters, digits and
    underscores, not starting with a digit, and not the reserved word ``run``."""
    if not isinstance(slug, str):
        raise FlowDefinitionError(f"{what} must be a string, got {type(slug).__name__}")
    if slug == "":
        raise FlowDefinitionError(f"{what} cannot be empty")
    if len(slug) > MAX_SLUG_LENGTH:
        raise FlowDefinitionError(f"{what} cannot be longer than {MAX_SLUG_LENGTH} characters: {slug[:40]!r}...")
    if slug[0].isdigit():
        raise FlowDefinitionError(f"{what} cannot start with a number: {slug!r}")
    if not _SLUG_CHARS.match(slug) or not slug.isascii():
        raise FlowDefinitionError(
            f"{what} can only contain letters, digits and underscores ([a-zA-Z0-9_]): {slug!r}"
        )
    if slug in RESERVED_SLUGS:
        raise FlowDefinitionError(f"{what} cannot be a reserved word ({', '.join(RESERVED_SLUGS)}): {slug!r}")
    return slug


def _check_int(name: str, value: int | None, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FlowDefinitionError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise FlowDefinitionError(f"{name} must be greater than or equal to {minimum}, got {value}")
    return value


def _check_jitter(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise FlowDefinitionError(f"retry_jitter must be a fraction between 0 and 1, got {value!r}")
    return float(value)


def _check_mode(name: str, value: str | None) -> FailureMode | None:
    if value is None:
        return None
    if value not in FAILURE_MODES:
        raise FlowDefinitionError(f"{name} must be one of {', '.join(map(repr, FAILURE_MODES))}, got {value!r}")
    return cast(FailureMode, value)


def _check_pattern(name: str, value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FlowDefinitionError(
            f"{name} must be a dict (a JSON containment pattern), got {type(value).__name__}"
        )
    try:
        js_json(value)
        json.dumps(value, allow_nan=False)  # NaN/Infinity: JSON.stringify would quietly write null
    except (TypeError, ValueError) as exc:
        raise FlowDefinitionError(f"{name} must be JSON-serialisable: {exc}") from None
    # A private deep copy, read-only at the top: later edits to the caller's dict do not leak in.
    return MappingProxyType(copy.deepcopy(dict(value)))


# --------------------------------------------------------------------------------------------
# JSON exactly as JavaScript's JSON.stringify renders it
# --------------------------------------------------------------------------------------------

_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\ud800-\udfff]')
_ARRAY_INDEX = re.compile(r"^(?:0|[1-9][0-9]*)$")


def _js_string(s: str) -> str:
    def esc(m: re.Match[str]) -> str:
        c = m.group(0)
        return _ESCAPES.get(c) or f"\\u{ord(c):04x}"

    return '"' + _NEEDS_ESCAPE.sub(esc, s) + '"'


def _js_number(x: float) -> str:
    """Number.prototype.toString for a finite double (ECMA-262 Number::toString)."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _js_number(-x)
    # repr() gives the shortest round-tripping digits, as JS does; only the layout differs.
    _sign, digit_tuple, exponent = Decimal(repr(x)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = k + int(exponent)  # value = 0.<digits> * 10**n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{'+' if e >= 0 else '-'}{abs(e)}"


def _js_key_order(keys: Iterable[str]) -> list[str]:
    # JS objects list integer-like keys (array indices) first, ascending, then the rest in
    # insertion order.
    keys = list(keys)
    index_keys = sorted((k for k in keys if _ARRAY_INDEX.match(k) and int(k) < 2**32 - 1), key=int)
    is_index = set(index_keys)
    return index_keys + [k for k in keys if k not in is_index]


def js_json(value: Any) -> str:
    """Serialise ``value`` as compact JSON, exactly as ``JSON.stringify`` would: no spaces,
    non-ASCII kept, lone surrogates escaped, integer-valued floats without ``.0``, JS exponent
    notation, NaN/Infinity as ``null``, integer-like object keys first. Accepts dicts (string
    keys), lists, tuples, str, int, float, bool and None.

    One deliberate difference: Python ints are written exactly, whereas JS would first round
    one beyond 2**53 to a double (and print 10**30 as ``1e+30``); both parse to the same jsonb
    numeric where JS's value is exact."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value) if math.isfinite(value) else "null"
    if isinstance(value, Mapping):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"object keys must be strings, got {k!r}")
        return "{" + ",".join(f"{_js_string(k)}:{js_json(value[k])}" for k in _js_key_order(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(js_json(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


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


class Flow:
    """A flow definition. Steps are added with the ``step``/``array``/``map`` decorators, in
    topological order (a step can only depend on steps defined before it). ``schedule="<cron>"``
    is ``flow.schedule("<cron>")``: a schedule named after the flow, in UTC (see :meth:`schedule`)."""

    def __init__(
        self,
        slug: str,
        *,
        max_attempts: int | None = None,
        base_delay: int | None = None,
        timeout: int | None = None,
        schedule: str | None = None,
        retry_jitter: float | None = None,
        max_retry_delay: int | None = None,
    ) -> None:
        self.slug: Final[str] = validate_slug(slug, "Flow slug")
        self.options: Final = FlowOptions(
            max_attempts=_check_int("max_attempts", max_attempts, 1),
            base_delay=_check_int("base_delay", base_delay, 1),
            timeout=_check_int("timeout", timeout, 3),
            retry_jitter=_check_jitter(retry_jitter),
            max_retry_delay=_check_int("max_retry_delay", max_retry_delay, 0),
        )
        self._steps: dict[str, StepDef] = {}
        self._schedules: dict[str, ScheduleDef] = {}
        if schedule is not None:
            self.schedule(schedule)

    def __repr__(self) -> str:
        return f"Flow({self.slug!r}, steps={list(self._steps)!r})"

    @property
    def steps(self) -> Mapping[str, StepDef]:
        """Steps by slug, in definition order (the order becomes ``step_index``)."""
        return MappingProxyType(self._steps)

    @property
    def schedules(self) -> tuple[ScheduleDef, ...]:
        """The flow's schedules (``schedule=`` and :meth:`schedule`), in definition order."""
        return tuple(self._schedules.values())

    # -- building --------------------------------------------------------------------------

    def schedule(
        self,
        cron: str,
        *,
        slug: str | None = None,
        input: Mapping[str, Any] | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        overlap_policy: str = DEFAULT_OVERLAP_POLICY,
        catchup_policy: str = DEFAULT_CATCHUP_POLICY,
        catchup_window: _dt.timedelta = DEFAULT_CATCHUP_WINDOW,
    ) -> ScheduleDef:
        """Start this flow at the times ``cron`` names in ``timezone`` (see pgflow.cron_next), each
        run's input being ``input`` plus ``"scheduled_for"``. ``slug`` names the schedule (default:
        the flow's slug; a second schedule needs its own). ``compile()`` and the worker's
        compile-on-start create it, or bring it to this definition. The expression and zone are
        checked now, with the database's messages (FlowDefinitionError)."""
        name = self.slug if slug is None else slug
        try:
            validate_slug(name, "Schedule slug")
            if name in self._schedules:
                raise FlowDefinitionError(f"the flow already has a schedule named {name!r}: pass slug=...")
            sched = ScheduleDef.build(
                name, self.slug, cron, timezone=timezone, input=input, overlap_policy=overlap_policy,
                catchup_policy=catchup_policy, catchup_window=catchup_window,
            )
        except (FlowDefinitionError, InvalidSchedule) as e:
            raise FlowDefinitionError(f'Schedule "{name}" of flow "{self.slug}": {e}') from None
        self._schedules[name] = sched
        return sched


    def step(
        self,
        slug: str,
        *,
        depends_on: Sequence[str] = (),
        max_attempts: int | None = None,
        base_delay: int | None = None,
        timeout: int | None = None,
        start_delay: int | None = None,
        if_: Mapping[str, Any] | None = None,
        if_not: Mapping[str, Any] | None = None,
        when_unmet: FailureMode | None = None,
        when_exhausted: FailureMode | None = None,
        retry_jitter: float | None = None,
        max_retry_delay: int | None = None,
    ) -> Callable[[H], H]:
        """Add a single step (one task). A root step's handler gets the flow input; a dependent
        step's handler gets ``{dep_slug: dep_output, ...}`` for the dependencies that completed."""
        if isinstance(depends_on, str):
            raise FlowDefinitionError(
                f"Step {slug!r}: depends_on must be a list of step slugs, not a string (write [{depends_on!r}])"
            )
        deps = tuple(depends_on)
        opts = self._options(
            slug, max_attempts, base_delay, timeout, start_delay, if_, if_not, when_unmet, when_exhausted
        )
        opts = self._retry_options(slug, opts, retry_jitter, max_retry_delay)
        return self._register(slug, "single", deps, opts)

    array = step
    """Identical to :meth:`step` at runtime (in the TypeScript DSL it only narrows the type)."""

    def map(
        self,
        slug: str,
        *,
        array: str | None = None,
        max_attempts: int | None = None,
        base_delay: int | None = None,
        timeout: int | None = None,
        start_delay: int | None = None,
        if_: Mapping[str, Any] | None = None,
        if_not: Mapping[str, Any] | None = None,
        when_unmet: FailureMode | None = None,
        when_exhausted: FailureMode | None = None,
        retry_jitter: float | None = None,
        max_retry_delay: int | None = None,
    ) -> Callable[[H], H]:
        """Add a map step: one task per element of an array, the handler gets one element. With
        ``array="<step>"`` it maps over that step's output; without it, over the flow input
        (which must then be a JSON array). The step's output is the list of results, in order."""
        if array is not None and not isinstance(array, str):
            raise FlowDefinitionError(f"Map step {slug!r}: array must be the slug of one step, got {array!r}")
        deps = (array,) if array is not None else ()
        opts = self._options(
            slug, max_attempts, base_delay, timeout, start_delay, if_, if_not, when_unmet, when_exhausted
        )
        opts = self._retry_options(slug, opts, retry_jitter, max_retry_delay)
        return self._register(slug, "map", deps, opts)

    def _options(
        self,
        slug: str,
        max_attempts: int | None,
        base_delay: int | None,
        timeout: int | None,
        start_delay: int | None,
        if_: Mapping[str, Any] | None,
        if_not: Mapping[str, Any] | None,
        when_unmet: str | None,
        when_exhausted: str | None,
    ) -> StepOptions:
        def ctx(e: FlowDefinitionError) -> FlowDefinitionError:
            return FlowDefinitionError(f'Step "{slug}" in flow "{self.slug}": {e}')

        try:
            if when_unmet is not None and if_ is None and if_not is None:
                raise FlowDefinitionError("when_unmet can only be set together with if_ or if_not")
            return StepOptions(
                max_attempts=_check_int("max_attempts", max_attempts, 1),
                base_delay=_check_int("base_delay", base_delay, 1),
                timeout=_check_int("timeout", timeout, 3),
                start_delay=_check_int("start_delay", start_delay, 0),
                if_=_check_pattern("if_", if_),
                if_not=_check_pattern("if_not", if_not),
                when_unmet=_check_mode("when_unmet", when_unmet),
                when_exhausted=_check_mode("when_exhausted", when_exhausted),
            )
        except FlowDefinitionError as e:
            raise ctx(e) from None

    def _retry_options(
        self, slug: str, opts: StepOptions, retry_jitter: float | None, max_retry_delay: int | None
    ) -> StepOptions:
        """Run control's opt-in retry policy of a step (compiled to ``pgflow.set_retry_policy``)."""
        try:
            return dataclasses.replace(
                opts,
                retry_jitter=_check_jitter(retry_jitter),
                max_retry_delay=_check_int("max_retry_delay", max_retry_delay, 0),
            )
        except FlowDefinitionError as e:
            raise FlowDefinitionError(f'Step "{slug}" in flow "{self.slug}": {e}') from None

    def retry_policies(self) -> list[tuple[str | None, float | None, int | None]]:
        """``(step_slug or None for the flow, retry_jitter, max_retry_delay)`` for the flow and
        each step that sets either (run control; the worker applies them after compiling)."""
        fo = self.options
        out: list[tuple[str | None, float | None, int | None]] = []
        if fo.retry_jitter is not None or fo.max_retry_delay is not None:
            out.append((None, fo.retry_jitter, fo.max_retry_delay))
        for s in self._steps.values():
            if s.options.retry_jitter is not None or s.options.max_retry_delay is not None:
                out.append((s.slug, s.options.retry_jitter, s.options.max_retry_delay))
        return out

    def _register(self, slug: str, step_type: StepType, deps: tuple[str, ...], opts: StepOptions) -> Callable[[H], H]:
        if callable(slug):  # @flow.step without (...)
            method = "map" if step_type == "map" else "step"
            raise FlowDefinitionError(f'the step slug is missing: write @flow.{method}("<slug>"), not @flow.{method}')
        validate_slug(slug, "Step slug")
        if slug in self._steps:
            raise FlowDefinitionError(f'Step "{slug}" already exists in flow "{self.slug}"')
        for d in deps:
            if not isinstance(d, str) or d not in self._steps:
                raise FlowDefinitionError(f'Step "{slug}" depends on undefined step "{d}"')
        if len(set(deps)) != len(deps):
            raise FlowDefinitionError(f'Step "{slug}" lists a dependency twice: {list(deps)}')

        def decorator(handler: H) -> H:
            if not callable(handler):
                raise FlowDefinitionError(f'Step "{slug}": the handler must be callable, got {handler!r}')
            _check_handler_signature(slug, handler)
            # Checked again: another step with this slug may have been added since step() was called.
            if slug in self._steps:
                raise FlowDefinitionError(f'Step "{slug}" already exists in flow "{self.slug}"')
            self._steps[slug] = StepDef(
                flow_slug=self.slug,
                slug=slug,
                step_type=step_type,
                depends_on=deps,
                handler=handler,
                options=opts,
                index=len(self._steps),
            )
            return handler

        return decorator

    # -- compiling -------------------------------------------------------------------------

    def compile(self) -> list[str]:
        """The SQL statements that create this flow (pgflow's ``compileFlow``): one
        ``pgflow.create_flow`` and one ``pgflow.add_step`` per step, in definition order; then
        one statement per schedule (see :meth:`ScheduleDef.compile_sql`), and one
        ``pgflow.set_retry_policy`` per flow/step that sets retry_jitter or max_retry_delay."""
        fo = self.options
        flow_opts = _runtime_options(fo.max_attempts, fo.base_delay, fo.timeout)
        out = [f"SELECT pgflow.create_flow({_sql_literal(self.slug)}{flow_opts});"]
        for s in self._steps.values():
            o = s.options
            parts: list[str] = [_sql_literal(self.slug), _sql_literal(s.slug)]
            if s.depends_on:
                parts.append("ARRAY[" + ", ".join(_sql_literal(d) for d in s.depends_on) + "]")
            extra = _runtime_options(o.max_attempts, o.base_delay, o.timeout)
            if o.start_delay is not None:
                extra += f", start_delay => {o.start_delay}"
            if o.if_ is not None:
                extra += f", required_input_pattern => {_sql_literal(js_json(o.if_))}"
            if o.if_not is not None:
                extra += f", forbidden_input_pattern => {_sql_literal(js_json(o.if_not))}"
            if o.when_unmet is not None:
                extra += f", when_unmet => {_sql_literal(o.when_unmet)}"
            if o.when_exhausted is not None:
                extra += f", when_exhausted => {_sql_literal(o.when_exhausted)}"
            if s.step_type == "map":
                extra += ", step_type => 'map'"
            out.append(f"SELECT pgflow.add_step({', '.join(parts)}{extra});")
        for step_slug, jitter, max_delay in self.retry_policies():
            args = [_sql_literal(self.slug)] + ([_sql_literal(step_slug)] if step_slug is not None else [])
            if jitter is not None:
                args.append(f"retry_jitter => {jitter!r}")
            if max_delay is not None:
                args.append(f"max_retry_delay => {max_delay}")
            out.append(f"SELECT pgflow.set_retry_policy({', '.join(args)});")
        if self._schedules:
            self.check_schedulable()
        out.extend(sched.compile_sql() for sched in self._schedules.values())
        return out

    def check_schedulable(self) -> None:
        """A scheduled run's input is a JSON object: refuse a scheduled flow with a root map step
        (whose input must be an array), as pgflow.create_schedule would."""
        roots = [s.slug for s in self._steps.values() if s.step_type == "map" and s.is_root]
        if self._schedules and roots:
            raise FlowDefinitionError(
                f'Flow "{self.slug}" has a schedule and a root map step ("{roots[0]}"): a scheduled run\'s input '
                "is a JSON object, a root map step needs an array"
            )

    def compile_sql(self) -> str:
        """``compile()`` as one script, one statement per line, ending with a newline."""
        return "\n".join(self.compile()) + "\n"

    def shape(self) -> dict[str, Any]:
        """The flow's shape (pgflow's ``extractFlowShape``): what
        ``pgflow.ensure_flow_compiled(flow_slug, shape)`` compares with the database."""
        steps: list[dict[str, Any]] = []
        for s in self._steps.values():
            o = s.options
            step: dict[str, Any] = {
                "slug": s.slug,
                "stepType": s.step_type,
                "dependencies": sorted(s.depends_on),
                "whenUnmet": o.when_unmet or "skip",
                "whenExhausted": o.when_exhausted or "fail",
                "requiredInputPattern": _pattern_shape(o.if_),
                "forbiddenInputPattern": _pattern_shape(o.if_not),
            }
            opts = _shape_options(
                maxAttempts=o.max_attempts, baseDelay=o.base_delay, timeout=o.timeout, startDelay=o.start_delay
            )
            if opts:
                step["options"] = opts
            steps.append(step)
        shape: dict[str, Any] = {"steps": steps}
        fopts = _shape_options(
            maxAttempts=self.options.max_attempts, baseDelay=self.options.base_delay, timeout=self.options.timeout
        )
        if fopts:
            shape["options"] = fopts
        return shape

    def shape_json(self) -> str:
        """``shape()`` serialised as ``JSON.stringify`` would."""
        return js_json(self.shape())

    # -- running ---------------------------------------------------------------------------

    def serve(self, dsn: str, **worker_options: Any) -> Serving:
        """A worker for this flow inside the running asyncio program: ``async with
        flow.serve(dsn):`` or ``await flow.serve(dsn)`` (see :func:`pgflow.serve`)."""
        from pgflow.serving import serve

        return serve([self], dsn, **worker_options)


def _runtime_options(max_attempts: int | None, base_delay: int | None, timeout: int | None) -> str:
    s = ""
    if max_attempts is not None:
        s += f", max_attempts => {max_attempts}"
    if base_delay is not None:
        s += f", base_delay => {base_delay}"
    if timeout is not None:
        s += f", timeout => {timeout}"
    return s


def _pattern_shape(p: Mapping[str, Any] | None) -> dict[str, Any]:
    if p is None:
        return {"defined": False}
    return {"defined": True, "value": copy.deepcopy(dict(p))}


def _shape_options(**opts: int | None) -> dict[str, int]:
    return {k: v for k, v in opts.items() if v is not None}

