"""The worker's schedule options: on by default at DEFAULT_SCHEDULE_TICK_INTERVAL, 0 or None to
turn ticking off, an injectable clock; bad values refused naming the option."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pgflow.dsl import Flow
from pgflow.worker import Worker
from pgflow.worker.options import DEFAULT_SCHEDULE_TICK_INTERVAL


def _flow() -> Flow:
    flow = Flow("opts_sched")

    @flow.step("only")
    def only(inp: Any) -> Any:
        return inp

    return flow


def test_ticking_is_on_by_default_every_few_seconds() -> None:
    o = Worker(_flow(), "postgresql://unused").options
    assert o.schedule_tick_interval == DEFAULT_SCHEDULE_TICK_INTERVAL == 5.0
    assert o.schedule_clock is None


def test_the_clock_and_the_interval_are_kept() -> None:
    def clock() -> datetime:
        return datetime(2030, 1, 1, tzinfo=UTC)

    o = Worker(_flow(), "postgresql://unused", schedule_tick_interval=None, schedule_clock=clock).options
    assert (o.schedule_tick_interval, o.schedule_clock) == (None, clock)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("schedule_tick_interval", -1, "schedule_tick_interval must be >= 0 (0 or None: no ticking), got -1"),
    ("schedule_clock", "now", "schedule_clock must be a callable returning a datetime, got 'now'"),
])
def test_bad_schedule_options_are_refused_naming_them(option: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        Worker(_flow(), "postgresql://unused", **{option: value})
    assert str(err.value) == message
