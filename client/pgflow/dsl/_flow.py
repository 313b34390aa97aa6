""":class:`Flow`: the definition, its decorators, ``compile()`` and ``shape()``."""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from pgflow.errors import InvalidSchedule
from pgflow.schedules import (
    DEFAULT_CATCHUP_POLICY,
    DEFAULT_CATCHUP_WINDOW,
    DEFAULT_OVERLAP_POLICY,
    DEFAULT_TIMEZONE,
    ScheduleDef,
)

if TYPE_CHECKING:
    from pgflow.serving import Serving

from pgflow.dsl._jsjson import _sql_literal, js_json
from pgflow.dsl._steps import FlowOptions, StepDef, StepOptions, _check_handler_signature
from pgflow.dsl._validation import (
    FailureMode,
    FlowDefinitionError,
    H,
    StepType,
    _check_int,
    _check_jitter,
    _check_mode,
    _check_pattern,
    validate_slug,
)


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

