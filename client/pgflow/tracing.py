"""W3C trace context from the code that starts a run to the tasks of that run (OpenTelemetry).

``opentelemetry-api`` is optional (the ``otel`` extra) and imported on first use only. The client's
``start_flow`` stores the ``traceparent`` of the span current in the caller (or one given
explicitly) in ``pgflow.run_trace_contexts``, in the same statement as the run; the worker reads it
once per run and makes it the parent of each task's span (:mod:`pgflow.worker.tracing`).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

from pgflow.errors import InvalidInput

__all__ = ["check_traceparent", "context_from_traceparent", "current_traceparent", "otel_available"]

TRACEPARENT: Final = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
"""version-trace_id-parent_id-flags, lowercase hex (https://www.w3.org/TR/trace-context/)."""


@functools.cache
def _otel() -> Any | None:
    """The modules used here, or None when opentelemetry-api is not installed (tried once)."""
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        return None
    return (trace, TraceContextTextMapPropagator())


def otel_available() -> bool:
    return _otel() is not None


def current_traceparent() -> str | None:
    """The ``traceparent`` of the span current in this context, None when there is no valid span
    (or no OpenTelemetry)."""
    otel = _otel()
    if otel is None:
        return None
    trace, propagator = otel
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagator.inject(carrier)
    return carrier.get("traceparent")


def check_traceparent(value: str) -> str:
    """``value`` if it is a W3C traceparent, else InvalidInput saying what is expected."""
    if not isinstance(value, str) or not TRACEPARENT.match(value) or value.startswith("ff"):
        raise InvalidInput(
            f"traceparent must be a W3C trace context header like "
            f"'00-<32 hex trace id>-<16 hex span id>-<2 hex flags>', got {value!r}"
        )
    return value


def context_from_traceparent(traceparent: str | None) -> Any | None:
    """An OpenTelemetry Context whose current span is the remote parent ``traceparent`` names
    (None without one, without OpenTelemetry, or when it does not parse)."""
    otel = _otel()
    if otel is None or not traceparent:
        return None
    trace, propagator = otel
    ctx = propagator.extract({"traceparent": traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None
