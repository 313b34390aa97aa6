"""The worker's parts that need no database: options, lifecycle, slots, background services."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest

from pgflow.dsl import Flow
from pgflow.errors import PgflowError, SchemaVersionError
from pgflow.worker import ServiceDied, State, Worker, WorkerOptions
from pgflow.worker import options as defaults
from pgflow.worker.lifecycle import Lifecycle
from pgflow.worker.services import Maintenance, MaintenanceJob, Services
from pgflow.worker.slots import Slots


def a_flow() -> Flow:
    f = Flow("parts")

    @f.step("s")
    def s(x: Any) -> Any:
        return x

    return f


# -- options ---------------------------------------------------------------------------------


def test_worker_options_default_to_the_named_constants() -> None:
    o = Worker(a_flow(), "postgresql://unused").options
    assert (o.concurrency, o.batch_size, o.visibility_timeout) == (
        defaults.DEFAULT_CONCURRENCY, defaults.DEFAULT_BATCH_SIZE, defaults.DEFAULT_VISIBILITY_TIMEOUT
    )
    assert (o.max_poll_seconds, o.poll_interval_ms, o.heartbeat_interval) == (
        defaults.DEFAULT_MAX_POLL_SECONDS, defaults.DEFAULT_POLL_INTERVAL_MS, defaults.DEFAULT_HEARTBEAT_INTERVAL
    )
    assert (o.function_name, o.compile, o.shutdown_grace, o.maintenance_interval, o.check_idle_after) == (
        defaults.DEFAULT_FUNCTION_NAME, defaults.DEFAULT_COMPILE, defaults.DEFAULT_SHUTDOWN_GRACE,
        defaults.DEFAULT_MAINTENANCE_INTERVAL, defaults.DEFAULT_CHECK_IDLE_AFTER,
    )
    assert o == WorkerOptions(), "Worker's keyword defaults and WorkerOptions' defaults agree"
    assert o.threads == o.concurrency and o.pool_size(1) == 1 + 10 + 2


def test_worker_keeps_every_keyword_it_takes_in_its_options() -> None:
    o = Worker(a_flow(), "postgresql://unused", concurrency=3, sync_threads=2, check_idle_after=0.0,
               compile="off", use_notify=False, max_pool_size=4).options
    assert (o.concurrency, o.threads, o.check_idle_after, o.compile, o.use_notify, o.pool_size(1)) == (
        3, 2, 0.0, "off", False, 4
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.concurrency = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("concurrency", 0, "concurrency must be >= 1, got 0"),
        ("batch_size", -1, "batch_size must be >= 1, got -1"),
        ("visibility_timeout", 0, "visibility_timeout must be >= 1, got 0"),
        ("poll_interval_ms", 0, "poll_interval_ms must be >= 1, got 0"),
        ("max_poll_seconds", -1, "max_poll_seconds must be >= 0, got -1"),
        ("shutdown_grace", -0.5, "shutdown_grace must be >= 0, got -0.5"),
        ("maintenance_interval", -1, "maintenance_interval must be >= 0, got -1"),
        ("check_idle_after", -1, "check_idle_after must be >= 0, got -1"),
        ("heartbeat_interval", 0, "heartbeat_interval must be > 0, got 0"),
        ("compile", "sometimes", "compile must be 'auto', 'verify' or 'off', got 'sometimes'"),
        ("sync_threads", 0, "sync_threads must be >= 1, got 0"),
    ],
)
def test_a_bad_option_is_refused_naming_it(option: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$".replace("(", r"\(").replace(")", r"\)")):
        Worker(a_flow(), "postgresql://unused", **{option: value})


def test_flows_are_checked() -> None:
    with pytest.raises(ValueError, match="at least one flow"):
        Worker([], "postgresql://unused")
    with pytest.raises(ValueError, match="the same flow slug is given twice"):
        Worker([a_flow(), a_flow()], "postgresql://unused")


# -- lifecycle -------------------------------------------------------------------------------


def test_lifecycle_runs_created_running_draining_stopped() -> None:
    life = Lifecycle()
    assert life.state is State.CREATED and not life.stopping
    assert life.begin() is True
    assert life.state is State.RUNNING and not life.draining.is_set()
    life.request_stop("test")
    assert life.state is State.DRAINING and life.stopping and life.draining.is_set()
    life.request_stop("again")  # changes nothing
    assert life.state is State.DRAINING
    life.finish()
    assert life.state is State.STOPPED
    with pytest.raises(RuntimeError, match="can run only once"):
        life.begin()


def test_stop_before_run_makes_run_stop_at_once() -> None:
    life = Lifecycle()
    life.request_stop("before run")
    assert life.state is State.DRAINING
    assert life.begin() is False
    assert life.state is State.STOPPED
    with pytest.raises(RuntimeError, match="can run only once"):
        life.begin()


def test_a_worker_that_failed_to_start_goes_from_running_to_stopped() -> None:
    life = Lifecycle()
    life.begin()
    life.finish()
    assert life.state is State.STOPPED


# -- slots -----------------------------------------------------------------------------------


async def test_a_lease_gives_back_what_its_tasks_did_not_take() -> None:
    slots = Slots(5)
    with await slots.reserve(3) as lease:
        assert slots.free == 2 and lease.count == 3
        first, second = lease.take(), lease.take()
    assert slots.free == 3, "the untaken slot went back when the lease closed"
    first.release()
    first.release()  # a second release gives nothing back twice
    assert slots.free == 4
    second.hand_over().release()
    second.release()  # handed over: releasing the old holder does nothing
    assert slots.free == 5


async def test_a_lease_is_given_back_on_error_and_a_detached_one_by_its_new_holder() -> None:
    slots = Slots(2)
    with pytest.raises(ZeroDivisionError):
        with await slots.reserve(2):
            1 / 0  # noqa: B018
    assert slots.free == 2
    with await slots.reserve(2) as lease:
        moved = lease.detach()
    assert slots.free == 0, "the detached slots belong to the new lease"
    with moved:
        pass
    assert slots.free == 2
    with pytest.raises(RuntimeError, match="empty"):
        moved.take()


async def test_reserve_waits_for_a_free_slot() -> None:
    slots = Slots(1)
    held = (await slots.reserve(4)).take()
    waiting = asyncio.create_task(slots.reserve(4))
    await asyncio.sleep(0)  # let it start waiting
    assert not waiting.done()
    held.release()
    lease = await asyncio.wait_for(waiting, 5)
    assert lease.count == 1 and slots.free == 0


# -- services --------------------------------------------------------------------------------


class _Dies:
    name = "dies"

    async def run(self) -> None:
        raise KeyError("broken service")


class _Waits:
    name = "waits"

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def run(self) -> None:
        await self.release.wait()


async def test_a_dying_service_stops_the_worker_loudly(caplog: pytest.LogCaptureFixture) -> None:
    life = Lifecycle()
    life.begin()
    services = Services(on_death=lambda name: life.request_stop(f"service {name} died"))
    with caplog.at_level(logging.ERROR, logger="pgflow.worker"):
        services.start(_Dies())
        await asyncio.wait_for(life.wait_stopping(), 5)
    assert life.state is State.DRAINING
    assert isinstance(services.died, ServiceDied) and isinstance(services.died, PgflowError)
    assert services.died.service == "dies" and "KeyError" in str(services.died)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "worker service dies died" in record.getMessage() and record.exc_info is not None


async def test_a_service_that_finishes_does_not_stop_the_worker() -> None:
    deaths: list[str] = []
    services = Services(on_death=deaths.append)
    waits = _Waits()
    services.start(waits)
    with pytest.raises(ValueError, match="a service named 'waits' is already running"):
        services.start(_Waits())
    [task] = services.running()
    waits.release.set()
    await asyncio.wait_for(task, 5)
    assert deaths == [] and services.died is None and services.running() == []


async def test_maintenance_disables_a_missing_job_and_retries_a_failing_one() -> None:
    calls = {"missing": 0, "flaky": 0}
    retried = asyncio.Event()

    async def missing() -> None:
        calls["missing"] += 1
        raise SchemaVersionError("function pgflow.some_job() does not exist")

    async def flaky() -> None:
        calls["flaky"] += 1
        if calls["flaky"] >= 3:
            retried.set()
        raise RuntimeError("transient trouble")

    task = asyncio.create_task(
        Maintenance([MaintenanceJob("missing", missing), MaintenanceJob("flaky", flaky)], interval=0.001).run()
    )
    try:
        await asyncio.wait_for(retried.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert calls["missing"] == 1, "a job whose function is missing runs once, then is disabled"


async def test_maintenance_finishes_when_every_job_is_disabled() -> None:
    async def missing() -> None:
        raise SchemaVersionError("function pgflow.requeue_stalled_tasks() does not exist")

    await asyncio.wait_for(Maintenance([MaintenanceJob("requeue", missing)], interval=0.001).run(), 5)
