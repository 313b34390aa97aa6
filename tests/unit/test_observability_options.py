"""The observability options that need no database: trace context values, the tracer provider
setting, hook registration."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from pgflow.errors import InvalidInput
from pgflow.tracing import check_traceparent, context_from_traceparent
from pgflow.worker.hooks import Hooks, TaskStarted
from pgflow.worker.tracing import tracer_provider_for

HEADER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_traceparent_values() -> None:
    assert check_traceparent(HEADER) == HEADER
    for bad in ("", "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", "ff" + HEADER[2:], HEADER + "-x"):
        with pytest.raises(InvalidInput, match="traceparent must be a W3C trace context header"):
            check_traceparent(bad)
    assert context_from_traceparent(HEADER) is not None
    assert context_from_traceparent(None) is None
    assert context_from_traceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01") is None


def test_tracer_provider_setting() -> None:
    provider = TracerProvider()
    assert tracer_provider_for(provider) is provider
    assert tracer_provider_for(False) is None
    current = trace.get_tracer_provider()
    if isinstance(current, trace.ProxyTracerProvider):  # no global provider set: no spans, no reads
        assert tracer_provider_for(None) is None
    else:  # some other test of this process set one
        assert tracer_provider_for(None) is current


def test_hook_kinds_and_decorators() -> None:
    hooks = Hooks()
    assert not hooks.has_any()

    @hooks.before_task
    async def before(event: TaskStarted) -> None:
        return None

    assert before.__name__ == "before" and hooks.has("before_task") and not hooks.has("after_task")
    hooks.add("after_task", [print, print])
    assert hooks.has("after_task") and hooks.has_any()
