"""The run-control pieces that need no database: durations, retry_after, step timeouts, the
DSL's retry policy options, and the worker's retention option."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from pgflow import RetryAfter, Worker
from pgflow.dsl import Flow, FlowDefinitionError
from pgflow.durations import format_duration, parse_duration
from pgflow.worker.control import DEFAULT_FLOW_TIMEOUT, Deadlines, retry_after_seconds, step_timeout


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)),
     ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)), ("1.5h", timedelta(minutes=90)),
     (" 7D ", timedelta(days=7)), ("0s", timedelta(0))],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["7", "7 days", "d", "-1d", "7y", ""])
def test_parse_duration_refuses_what_it_cannot_read_naming_the_option(text: str) -> None:
    with pytest.raises(ValueError, match=r"--older-than must be a number with a unit s, m, h, d or w"):
        parse_duration(text, "--older-than")


def test_parse_duration_takes_a_timedelta_but_not_a_negative_one_or_a_number() -> None:
    assert parse_duration(timedelta(hours=1)) == timedelta(hours=1)
    with pytest.raises(ValueError, match="retention must not be negative"):
        parse_duration(timedelta(seconds=-1), "retention")
    with pytest.raises(ValueError, match="retention must be a timedelta or a text like '7d', got int"):
        parse_duration(7, "retention")  # type: ignore[arg-type]


def test_format_duration_uses_the_largest_whole_unit() -> None:
    assert [format_duration(parse_duration(t)) for t in ("7d", "90s", "2w", "36h", "0s", "1.5s")] == [
        "7d", "90s", "14d", "36h", "0s", "1.5s",
    ]


class _Http429(Exception):
    retry_after = timedelta(seconds=2.5)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(RetryAfter(120, "HTTP 429"), 120), (RetryAfter(timedelta(minutes=1)), 60), (RetryAfter(0.2), 1),
     (_Http429(), 3), (ValueError("x"), None), (RetryAfter(-5), 0)],
)
def test_retry_after_seconds(exc: BaseException, expected: int | None) -> None:
    assert retry_after_seconds(exc) == expected


def test_retry_after_ignores_attributes_that_are_not_durations() -> None:
    for value in ("soon", True, float("nan"), None):
        exc = Exception()
        exc.retry_after = value  # type: ignore[attr-defined]
        assert retry_after_seconds(exc) is None, value
    assert str(RetryAfter(120, "HTTP 429")) == "HTTP 429" and str(RetryAfter(5)) == "retry after 5 s"


def test_step_timeout_is_the_steps_else_the_flows_else_create_flows_default() -> None:
    f = Flow("t_flow", timeout=30)

    @f.step("own", timeout=5)
    def own(x: Any) -> Any:
        return x

    @f.step("inherits")
    def inherits(x: Any) -> Any:
        return x

    bare = Flow("t_bare")

    @bare.step("s")
    def s(x: Any) -> Any:
        return x

    assert step_timeout(f, f.steps["own"]) == 5
    assert step_timeout(f, f.steps["inherits"]) == 30
    assert step_timeout(bare, bare.steps["s"]) == DEFAULT_FLOW_TIMEOUT == 60
    assert step_timeout(object(), object()) == 60


async def test_task_deadline_expires_and_extend_moves_it_later_never_earlier() -> None:
    deadlines = Deadlines(asyncio.get_running_loop())
    due = deadlines.deadline(0)
    with pytest.raises(TimeoutError):
        with due:
            await asyncio.sleep(10)  # cancelled at once: the deadline is due
    assert due.expired
    assert deadlines.deadline(3).message("fetch") == "TimeoutError: step fetch exceeded its timeout of 3 s"
    longer = deadlines.deadline(3)
    with longer:
        first = longer.at
        longer.extend(1)
        assert longer.at == first  # earlier than the deadline: unchanged
        longer.extend(100)
        assert longer.at >= first + 90
        await asyncio.sleep(0)
    assert not longer.expired
    assert len(deadlines) == 0  # a deadline is held only inside its block


async def test_one_timer_serves_every_deadline_and_cancels_only_the_overdue_handler() -> None:
    deadlines = Deadlines(asyncio.get_running_loop())
    slow_may_finish = asyncio.Event()
    outcomes: dict[str, str] = {}

    async def handler(name: str, timeout: int, work: asyncio.Event) -> None:
        try:
            with deadlines.deadline(timeout):
                await work.wait()
            outcomes[name] = "returned"
        except TimeoutError:
            outcomes[name] = "timed out"

    never = asyncio.Event()
    overdue = asyncio.create_task(handler("overdue", 0, never))
    patient = asyncio.create_task(handler("patient", 60, slow_may_finish))
    await overdue
    assert outcomes == {"overdue": "timed out"}
    assert len(deadlines) == 1  # the patient one, still running
    slow_may_finish.set()
    await patient
    assert outcomes == {"overdue": "timed out", "patient": "returned"}


async def test_a_deadline_does_not_turn_an_outside_cancellation_into_a_timeout() -> None:
    deadlines = Deadlines(asyncio.get_running_loop())
    entered = asyncio.Event()

    async def handler() -> None:
        with deadlines.deadline(60):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(handler())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(deadlines) == 0


def test_dsl_retry_policy_compiles_to_set_retry_policy_and_stays_out_of_the_shape() -> None:
    f = Flow("rp_flow", retry_jitter=0.5, max_retry_delay=300)

    @f.step("a", max_retry_delay=10)
    def a(x: Any) -> Any:
        return x

    @f.map("b", array="a", retry_jitter=0)
    def b(x: Any) -> Any:
        return x

    @f.step("c", depends_on=["b"])
    def c(x: Any) -> Any:
        return x

    assert f.compile()[-3:] == [
        "SELECT pgflow.set_retry_policy('rp_flow', retry_jitter => 0.5, max_retry_delay => 300);",
        "SELECT pgflow.set_retry_policy('rp_flow', 'a', max_retry_delay => 10);",
        "SELECT pgflow.set_retry_policy('rp_flow', 'b', retry_jitter => 0.0);",
    ]
    assert f.retry_policies() == [(None, 0.5, 300), ("a", None, 10), ("b", 0.0, None)]
    assert "retry" not in f.shape_json().lower()
    plain = Flow("rp_plain")
    assert plain.retry_policies() == [] and not any("set_retry_policy" in s for s in plain.compile())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"retry_jitter": 1.5}, "retry_jitter must be a fraction between 0 and 1, got 1.5"),
     ({"retry_jitter": True}, "retry_jitter must be a fraction between 0 and 1, got True"),
     ({"max_retry_delay": -1}, "max_retry_delay")],
)
def test_dsl_retry_policy_options_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FlowDefinitionError, match=message):
        Flow("rp_bad", **kwargs)
    f = Flow("rp_bad_step")
    with pytest.raises(FlowDefinitionError, match=f'Step "s" in flow "rp_bad_step": .*{message}'):
        f.step("s", **kwargs)


def test_worker_retention_option() -> None:
    f = Flow("ret_flow")
    assert Worker(f, "postgresql://unused", retention="7d").options.retention == timedelta(days=7)
    assert Worker(f, "postgresql://unused", retention=timedelta(hours=1)).options.retention == timedelta(hours=1)
    assert Worker(f, "postgresql://unused").options.retention is None
    with pytest.raises(ValueError, match="retention must be a number with a unit"):
        Worker(f, "postgresql://unused", retention="a week")
    with pytest.raises(ValueError, match="retention must be a positive timedelta"):
        Worker(f, "postgresql://unused", retention="0s")
    with pytest.raises(ValueError, match="retention needs maintenance sweeps"):
        Worker(f, "postgresql://unused", retention="7d", maintenance_interval=0)
