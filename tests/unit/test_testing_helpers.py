"""pgflow.testing's parts that need no database: TestServer's URLs, FlowRunResult's views."""

from __future__ import annotations

import uuid

import pytest

from pgflow.errors import PgflowError
from pgflow.testing import FlowRunResult, StepResult, TaskResult, TestServer
from pgflow.types import RunStatus, StepStatus, TaskStatus


def test_test_server_urls_name_the_database() -> None:
    server = TestServer("postgresql://app:secret@db.internal:6543/postgres?sslmode=require")
    assert server.dsn("t_1") == "postgresql://app:secret@db.internal:6543/t_1?sslmode=require"
    with pytest.raises(PgflowError, match=r"PGFLOW_TESTING_SERVER must be a postgresql:// URL, got 'host=x'"):
        TestServer("host=x").dsn("t")



def test_an_unstarted_embedded_test_server_has_no_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGFLOW_TESTING_SERVER", raising=False)
    server = TestServer()
    assert server.url is None and server.embedded is None
    with pytest.raises(PgflowError, match=r"TestServer\.dsn\(\) before start\(\)"):
        server.dsn("t")
    server.stop()  # nothing started: nothing to do


def _result() -> FlowRunResult:
    def step(slug: str, status: StepStatus, output: object = None, error: str | None = None,
             attempts: tuple[int, ...] = ()) -> StepResult:
        tasks = tuple(TaskResult(i, TaskStatus.COMPLETED, a, None, None) for i, a in enumerate(attempts))
        return StepResult(slug, status, output, error, None, tasks)

    steps = {
        "a": step("a", StepStatus.COMPLETED, 1, attempts=(1,)),
        "b": step("b", StepStatus.FAILED, None, "ValueError: x", attempts=(1, 3, 2)),
        "c": step("c", StepStatus.CREATED),
    }
    return FlowRunResult(uuid.uuid4(), "f", RunStatus.FAILED, {}, None, steps, ())


def test_flow_run_result_views() -> None:
    result = _result()
    assert not result.completed and result.status == "failed"
    assert result.outputs == {"a": 1}
    assert result.errors == {"b": "ValueError: x"}
    assert result.step("b").attempts == 3 and result.step("c").attempts == 0
    with pytest.raises(KeyError, match=r"run of flow 'f' has no step 'z'; its steps: \['a', 'b', 'c'\]"):
        result.step("z")
