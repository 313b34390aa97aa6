"""pgflow.testing.run_to_completion: a flow's handlers run in-process through the real SQL until
the run ends; handlers replaced per call; sync, async and map steps; retries without their
back-off; the handlers' exceptions kept in the result; bad arguments refused by name."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import psycopg
import pytest

from pgflow import PgflowError, RunStatus, StepStatus, TaskStatus
from pgflow.dsl import Flow
from pgflow.errors import FlowShapeMismatch, RunTimeout
from pgflow.testing import FlowRunResult, arun_to_completion, run_to_completion
from pgflow.types import Context


def greet_flow(slug: str = "rtc_greet") -> Flow:
    flow = Flow(slug, max_attempts=3, base_delay=5)

    @flow.step("full_name")
    def full_name(run: dict[str, str]) -> str:
        return f"{run['first']} {run['last']}"

    @flow.step("letters", depends_on=["full_name"])
    def letters(deps: dict[str, str]) -> list[str]:
        return list(deps["full_name"].replace(" ", ""))[:3]

    @flow.map("upper", array="letters")
    async def upper(letter: str) -> str:
        await asyncio.sleep(0)
        return letter.upper()

    @flow.step("greeting", depends_on=["full_name", "upper"])
    def greeting(deps: dict[str, Any]) -> str:
        return f"Hello, {deps['full_name']} ({''.join(deps['upper'])})!"

    return flow


ADA = {"first": "Ada", "last": "Lovelace"}


def test_runs_sync_async_and_map_handlers_to_completion(db_dsn: str) -> None:
    result = run_to_completion(greet_flow(), ADA, dsn=db_dsn)
    assert isinstance(result, FlowRunResult)
    assert result.status is RunStatus.COMPLETED and result.completed
    assert result.output == {"greeting": "Hello, Ada Lovelace (ADA)!"}
    assert result.outputs == {
        "full_name": "Ada Lovelace",
        "letters": ["A", "d", "a"],
        "upper": ["A", "D", "A"],
        "greeting": "Hello, Ada Lovelace (ADA)!",
    }
    assert list(result.steps) == ["full_name", "letters", "upper", "greeting"]  # definition order
    upper = result.step("upper")
    assert [(t.task_index, t.status, t.output) for t in upper.tasks] == [
        (0, TaskStatus.COMPLETED, "A"), (1, TaskStatus.COMPLETED, "D"), (2, TaskStatus.COMPLETED, "A"),
    ]
    assert result.errors == {} and result.handler_errors == ()
    with psycopg.connect(db_dsn) as conn:  # it went through the real tables
        row = conn.execute("select status, output from pgflow.runs where run_id = %s", (result.run_id,)).fetchone()
    assert row == ("completed", result.output)


def test_handlers_replaced_per_call_sync_and_async(db_dsn: str) -> None:
    flow = greet_flow()

    async def fake_upper(letter: str) -> str:
        return f"<{letter}>"

    result = run_to_completion(
        flow, ADA, dsn=db_dsn, handlers={"full_name": lambda run: "Grace Hopper", "upper": fake_upper}
    )
    assert result.outputs["letters"] == ["G", "r", "a"]
    assert result.outputs["upper"] == ["<G>", "<r>", "<a>"]
    assert result.output == {"greeting": "Hello, Grace Hopper (<G><r><a>)!"}
    # the flow itself is unchanged: the next call runs its own handlers
    assert run_to_completion(flow, ADA, dsn=db_dsn).output == {"greeting": "Hello, Ada Lovelace (ADA)!"}


def test_a_failing_handler_is_retried_without_its_back_off_and_its_exceptions_are_kept(db_dsn: str) -> None:
    calls: list[int] = []

    def flaky(letter: str, ctx: Context) -> str:
        calls.append(ctx.attempt)
        if ctx.task_index == 1 and ctx.attempt < 3:
            raise ConnectionError(f"attempt {ctx.attempt}")
        return letter

    # base_delay=5 s: the two retries would wait 5 s and 10 s; the helper skips the back-off,
    # and the test's deadline (timeout=5) would fail it otherwise.
    result = run_to_completion(greet_flow(), ADA, dsn=db_dsn, handlers={"upper": flaky}, timeout=5)
    assert result.completed
    assert result.step("upper").tasks[1].attempts == 3 and result.step("upper").attempts == 3
    assert [(e.step_slug, e.task_index, e.attempt, e.message) for e in result.handler_errors] == [
        ("upper", 1, 1, "ConnectionError: attempt 1"),
        ("upper", 1, 2, "ConnectionError: attempt 2"),
    ]
    assert isinstance(result.handler_errors[0].exception, ConnectionError)
    assert result.handler_errors[0].exception.__traceback__ is not None


def test_exhausted_attempts_fail_the_step_and_the_run(db_dsn: str) -> None:
    def broken(run: dict[str, str]) -> str:
        raise ValueError("no name")

    result = run_to_completion(greet_flow(), ADA, dsn=db_dsn, handlers={"full_name": broken})
    assert result.status is RunStatus.FAILED and not result.completed
    assert result.errors == {"full_name": "ValueError: no name"}
    assert result.step("full_name").status is StepStatus.FAILED
    assert result.step("letters").status is StepStatus.CREATED
    assert len(result.handler_errors) == 3


def test_a_non_json_output_fails_the_task_like_the_worker(db_dsn: str) -> None:
    flow = Flow("rtc_bad_output", max_attempts=1)

    @flow.step("only")
    def only(run: Any) -> Any:
        return object()

    result = run_to_completion(flow, {}, dsn=db_dsn)
    assert result.status is RunStatus.FAILED
    assert "TypeError" in result.errors["only"] and "non-JSON value" in result.errors["only"]


def test_ctx_flow_input_from_sync_and_async_handlers(db_dsn: str) -> None:
    flow = Flow("rtc_ctx")

    @flow.step("root")
    def root(run: Any) -> list[int]:
        return [1, 2]

    @flow.map("each", array="root")
    def each(x: int, ctx: Context) -> str:
        return f"{ctx.flow_input_sync()['tag']}{x}"

    @flow.step("join", depends_on=["each"])
    async def join(deps: dict[str, Any], ctx: Context) -> str:
        return (await ctx.flow_input())["tag"] + ",".join(deps["each"])

    result = run_to_completion(flow, {"tag": "t"}, dsn=db_dsn)
    assert result.output == {"join": "tt1,t2"}


def test_root_map_over_the_run_input_and_an_empty_map(db_dsn: str) -> None:
    flow = Flow("rtc_root_map")

    @flow.map("square")
    def square(x: int) -> int:
        return x * x

    assert run_to_completion(flow, [1, 2, 3], dsn=db_dsn).output == {"square": [1, 4, 9]}
    empty = run_to_completion(flow, [], dsn=db_dsn)
    assert empty.completed and empty.output == {"square": []} and empty.step("square").tasks == ()


async def test_async_variant_inside_an_event_loop(db_dsn: str) -> None:
    result = await arun_to_completion(greet_flow(), ADA, dsn=db_dsn)
    assert result.output == {"greeting": "Hello, Ada Lovelace (ADA)!"}
    with pytest.raises(PgflowError, match=r"inside a running event loop: use `await arun_to_completion"):
        run_to_completion(greet_flow(), ADA, dsn=db_dsn)


def test_bad_arguments_are_named(db_dsn: str) -> None:
    flow = greet_flow()
    with pytest.raises(PgflowError, match=r"handlers names steps that flow 'rtc_greet' does not have: fullname"):
        run_to_completion(flow, ADA, dsn=db_dsn, handlers={"fullname": lambda run: "x"})
    with pytest.raises(PgflowError, match=r"handler given for step 'letters' is not callable: 'abc'"):
        run_to_completion(flow, ADA, dsn=db_dsn, handlers={"letters": "abc"})  # type: ignore[dict-item]
    with pytest.raises(PgflowError, match=r"must take \(input\) or \(input, ctx\)"):
        run_to_completion(flow, ADA, dsn=db_dsn, handlers={"letters": lambda a, b, c: 1})
    with pytest.raises(PgflowError, match=r"needs a pgflow\.dsl\.Flow, got str"):
        run_to_completion("rtc_greet", ADA, dsn=db_dsn)  # type: ignore[arg-type]
    with pytest.raises(PgflowError, match="cannot connect to the database"):
        run_to_completion(flow, ADA, dsn="postgresql://nobody@127.0.0.1:1/nothing")


def test_a_different_definition_in_the_database_is_refused_unless_recompile(db_dsn: str) -> None:
    run_to_completion(greet_flow(), ADA, dsn=db_dsn)
    other = Flow("rtc_greet")

    @other.step("full_name")
    def full_name(run: Any) -> str:
        return "x"

    with pytest.raises(FlowShapeMismatch, match="recompile=True"):
        run_to_completion(other, ADA, dsn=db_dsn)
    assert run_to_completion(other, ADA, dsn=db_dsn, recompile=True).output == {"full_name": "x"}


def test_a_run_past_its_deadline_raises_run_timeout_with_its_id(db_dsn: str) -> None:
    flow = Flow("rtc_slow")

    @flow.step("first")
    def first(run: Any) -> int:
        # outlasts the 0.2 s deadline whatever the machine's speed (it can only take longer)
        threading.Event().wait(0.4)
        return 1

    @flow.step("second", depends_on=["first"])
    def second(deps: Any) -> int:
        return 2

    with pytest.raises(RunTimeout, match=r"run .* of flow 'rtc_slow' still started after 0.2 s"):
        run_to_completion(flow, {}, dsn=db_dsn, timeout=0.2)
    with psycopg.connect(db_dsn) as conn:  # the helper's worker row is marked stopped all the same
        row = conn.execute("select stopped_at is not null from pgflow.workers where queue_name = 'rtc_slow'").fetchone()
    assert row == (True,)
