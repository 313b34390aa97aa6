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

from pgflow.dsl._flow import Flow
from pgflow.dsl._jsjson import js_json
from pgflow.dsl._steps import FlowOptions, StepDef, StepOptions, _check_handler_signature, to_jsonable
from pgflow.dsl._validation import (
    FAILURE_MODES,
    MAX_SLUG_LENGTH,
    RESERVED_SLUGS,
    FailureMode,
    FlowDefinitionError,
    StepType,
    validate_slug,
)

__all__ = [
    "FAILURE_MODES",
    "MAX_SLUG_LENGTH",
    "RESERVED_SLUGS",
    "FailureMode",
    "Flow",
    "FlowDefinitionError",
    "FlowOptions",
    "StepDef",
    "StepOptions",
    "StepType",
    "_check_handler_signature",
    "js_json",
    "to_jsonable",
    "validate_slug",
]
