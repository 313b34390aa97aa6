"""OpenTelemetry: a span per task execution, recorded by the SDK's in-memory exporter, whose parent
is the span that was current when the client started the run (pgflow.run_trace_contexts)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pgflow.client import AsyncPgflowSqlClient, PgflowSqlClient
from pgflow.dsl import Flow
from pgflow.errors import InvalidInput
from pgflow.types import RunStatus
from pgflow.worker import Worker
from tests.support.worker import FAST, running


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def traced_flow(current: dict[str, int]) -> Flow:
    """``current``: step -> the span id current in its handler (the thread's, for the sync one)."""
    f = Flow("t_flow", max_attempts=1)

    @f.step("fetch")
    async def fetch(inp: dict[str, Any]) -> int:
        current["fetch"] = trace.get_current_span().get_span_context().span_id
        return int(inp["n"])

    @f.step("crunch", depends_on=["fetch"])
    def crunch(deps: dict[str, Any]) -> int:
        current["crunch"] = trace.get_current_span().get_span_context().span_id
        if deps["fetch"] < 0:
            raise ValueError("cannot crunch a negative number")
        return int(deps["fetch"]) * 2

    return f


def task_spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.attributes["pgflow.step_slug"]: s for s in exporter.get_finished_spans()  # type: ignore[index,misc]
            if s.name.startswith("pgflow.task ")}


async def test_task_spans_are_children_of_the_span_that_started_the_run(
    db_dsn: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    current: dict[str, int] = {}
    worker = Worker(traced_flow(current), db_dsn, **FAST, tracer_provider=provider)
    async with running(worker), await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
        client = AsyncPgflowSqlClient(conn)
        with provider.get_tracer("app").start_as_current_span("signup request") as request_span:
            run = await client.start_flow("t_flow", {"n": 21})
        state = await client.wait_for_run(run.run_id, timeout=30)
        stored = await client.run_traceparent(run.run_id)
    assert state.run.status is RunStatus.COMPLETED
    request = request_span.get_span_context()
    assert stored is not None and stored.startswith(f"00-{request.trace_id:032x}-{request.span_id:016x}-")

    by_step = task_spans(exporter)
    assert set(by_step) == {"fetch", "crunch"}
    for step, span in by_step.items():
        assert span.name == f"pgflow.task t_flow/{step}" and span.kind is SpanKind.CONSUMER
        assert span.context.trace_id == request.trace_id, "the run's tasks are in the starter's trace"
        assert span.parent is not None and span.parent.span_id == request.span_id
        assert dict(span.attributes or {}) == {
            "pgflow.flow_slug": "t_flow",
            "pgflow.run_id": str(run.run_id),
            "pgflow.step_slug": step,
            "pgflow.task_index": 0,
            "pgflow.attempt": 1,
            "pgflow.worker_id": str(worker.worker_id),
            "pgflow.outcome": "completed",
        }
        assert span.status.status_code is StatusCode.UNSET
        assert current[step] == span.context.span_id, "the task's span is current in its handler"


async def test_a_failed_task_span_records_the_error_and_a_run_without_context_gives_root_spans(
    db_dsn: str, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    previous = trace.get_tracer_provider()
    async with running(Worker(traced_flow({}), db_dsn, **FAST, tracer_provider=provider)):
        async with await psycopg.AsyncConnection.connect(db_dsn, autocommit=True) as conn:
            client = AsyncPgflowSqlClient(conn)
            run = await client.start_flow("t_flow", {"n": -1})  # no span current: no trace context
            state = await client.wait_for_run(run.run_id, timeout=30)
            assert await client.run_traceparent(run.run_id) is None
    assert trace.get_tracer_provider() is previous
    assert state.run.status is RunStatus.FAILED
    by_step = task_spans(exporter)
    assert all(s.parent is None for s in by_step.values())
    crunch = by_step["crunch"]
    assert crunch.attributes is not None and crunch.attributes["pgflow.outcome"] == "failed"
    assert crunch.status.status_code is StatusCode.ERROR
    assert crunch.status.description == "ValueError: cannot crunch a negative number"
    [exc_event] = [e for e in crunch.events if e.name == "exception"]
    assert exc_event.attributes is not None and exc_event.attributes["exception.type"] == "ValueError"


def test_start_flow_stores_an_explicit_traceparent_and_rejects_a_malformed_one(conn: psycopg.Connection) -> None:
    flow = Flow("t_explicit")

    @flow.step("only")
    def only(inp: Any) -> None:
        return None

    for statement in flow.compile():
        conn.execute(statement)  # type: ignore[call-overload]
    client = PgflowSqlClient(conn)
    header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    run = client.start_flow("t_explicit", {}, traceparent=header)
    assert client.run_traceparent(run.run_id) == header
    with pytest.raises(InvalidInput, match="traceparent must be a W3C trace context header"):
        client.start_flow("t_explicit", {}, traceparent="00-not-a-trace")
    assert conn.execute("select count(*) from pgflow.runs where flow_slug = 't_explicit'").fetchone() == (1,)
