"""OpenTelemetry: a span per task execution (``opentelemetry-api``, the ``otel`` extra, imported
only when tracing is on).

Tracing is on when ``Worker(tracer_provider=...)`` is given, or, by default, when
opentelemetry-api is installed and the application has set a global tracer provider
(``trace.set_tracer_provider``); ``tracer_provider=False`` turns it off.

Each task's span (kind CONSUMER, named ``pgflow.task <flow>/<step>``) covers the before-task hooks,
the handler and the report of its result; it is current while the handler runs (async handlers
on the loop and sync ones in their thread alike), so the handler's own spans are its children.
Its parent is the trace context stored for the run by the client's ``start_flow``
(``pgflow.run_trace_contexts``, read once per run and kept for the last TRACE_CACHE runs); a run
started with no span current gives root spans. Attributes: ``pgflow.flow_slug``,
``pgflow.run_id``, ``pgflow.step_slug``, ``pgflow.task_index``, ``pgflow.attempt``,
``pgflow.worker_id``, ``pgflow.outcome`` (``completed``, ``failed`` or ``abandoned``); a failed
attempt records its exception and sets the span's status to ERROR.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final

from pgflow.tracing import context_from_traceparent, otel_available

__all__ = ["TRACE_CACHE", "TaskTracer", "tracer_provider_for"]

logger = logging.getLogger(__name__)

TRACE_CACHE: Final = 1024
"""Runs whose parent trace context is kept."""

TRACER_NAME: Final = "pgflow.worker"


def tracer_provider_for(setting: object) -> Any | None:
    """The tracer provider to use for ``Worker(tracer_provider=setting)``: the one given; None for
    False; for None, the global provider when OpenTelemetry is installed and one was set."""
    if setting is False:
        return None
    if setting is not None and setting is not True:
        return setting
    if not otel_available():
        if setting is True:
            raise ImportError("tracer_provider=True needs opentelemetry-api: pip install 'pgflow-py[otel]'")
        return None
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if setting is None and isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None  # nothing would record the spans: skip the per-run trace context reads
    return provider


class TaskTracer:
    """Starts task spans; ``load_traceparent(run_id)`` reads a run's stored trace context."""

    def __init__(self, provider: Any, load_traceparent: Callable[[uuid.UUID], Awaitable[str | None]]) -> None:
        from opentelemetry import trace

        self._trace = trace
        self._tracer = provider.get_tracer(TRACER_NAME)
        self._load = load_traceparent
        self._parents: OrderedDict[uuid.UUID, Any] = OrderedDict()

    async def parent(self, run_id: uuid.UUID) -> Any | None:
        """The run's parent context (None: none stored, or it could not be read, which is logged)."""
        cache = self._parents
        if run_id in cache:
            cache.move_to_end(run_id)
            return cache[run_id]
        try:
            ctx = context_from_traceparent(await self._load(run_id))
        except Exception as exc:  # a lost trace link never fails a task; CancelledError passes
            logger.info("could not read the run's trace context: %s", exc, extra={"run_id": str(run_id)})
            return None
        cache[run_id] = ctx
        while len(cache) > TRACE_CACHE:
            cache.popitem(last=False)
        return ctx

    def start(self, name: str, attributes: dict[str, Any], parent: Any | None) -> Any:
        return self._tracer.start_span(
            name, context=parent, kind=self._trace.SpanKind.CONSUMER, attributes=attributes
        )

    def use(self, span: Any) -> Any:
        """Context manager: ``span`` is current inside (not ended on exit)."""
        return self._trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)

    def end(self, span: Any, outcome: str, error: BaseException | None, error_message: str | None) -> None:
        span.set_attribute("pgflow.outcome", outcome)
        if outcome == "failed":
            if error is not None:
                span.record_exception(error)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error_message))
        span.end()
