"""The flow worker: polls its flows' pgmq queues, runs step handlers, reports results to pgflow.

::

    worker = Worker([flow], "postgresql://...")
    await worker.run()          # until worker.stop() (from any thread) or deprecation

One asyncio loop owns everything. Modules, one job each:

==================  ===========================================================================
``core``            :class:`Worker`: wires the parts below together; ``run()`` and ``stop()``
``options``         :class:`WorkerOptions` (validated once) and the ``DEFAULT_*`` constants
``lifecycle``       one state: created -> running -> draining -> stopped
``startup``         schema check, flow compilation, worker rows (retried across outages)
``slots``           execution slots: a poll's lease, a task's slot, each given back once
``poller``          one flow's poll loop: reserve slots, read and start, wait when idle
``executor``        one task: its handler (async on the loop, sync in the thread pool), its report
``completer``       reporting results: inline (``complete_task``) or batched-with-claim
``listener``        LISTEN on demand on channel ``pgflow_tasks``: wakes idle pollers
``services``        background services under one start/stop contract; the maintenance jobs
``heartbeat``       the heartbeat service: a thread and a connection of its own
``scheduler``       the schedule ticker service: ``pgflow.tick_schedules`` every few seconds
``context``         the handler context and the run-input cache
``connections``     the pool and the worker's own warm connection
``inflight``        tasks in flight: tracked, waited for on stop, abandoned after the grace period
``retry``           transient errors, backoff, reports retried across an outage
``flows``           what the worker needs of a flow and a step (protocols)
``hooks``           the user's hooks: before_task, after_task, on_task_error, on_run_finished
``runwatch``        on_run_finished: LISTEN ``pgflow`` for the run events the worker's own calls sent
``observe``         one observation per task: hooks, span and metrics, as the executor reports
``tracing``         OpenTelemetry: a span per task, parented on the run's stored trace context
``metrics``         Prometheus: task counters, durations, queue depth; the metrics endpoint
``control``         step timeouts held on handlers, ``ctx.extend``, ``retry_after`` (run control)
``retention``       the maintenance job that prunes finished runs (``retention=``)
==================  ===========================================================================

Polling. With ``use_notify`` (default) a LISTEN connection wakes idle pollers; a poller reads and
starts tasks in one non-blocking call, ``pgflow.read_and_start_tasks`` (``pgmq.read`` +
``start_tasks``), and when there is nothing sleeps until a notification, the next delayed
message's visibility time, or ``max_poll_seconds``. Without NOTIFY (or while the LISTEN
connection is down) it waits in ``pgmq.read_with_poll`` and then calls ``pgflow.start_tasks``.
At most ``concurrency`` tasks run at once: a poller reserves free slots before it reads, so it
reads only messages it can start at once, and it polls again as soon as a slot frees (it does
not wait for the whole batch, unlike pgflow's edge worker).

Reporting. Handler result -> the completer; exception -> ``pgflow.fail_task`` with
``"<ExceptionType>: <message>"`` (one carrying ``retry_after`` -> ``pgflow.fail_task_with_delay``;
a handler still running at its step's timeout is cancelled, or abandoned when sync, and fails
with ``TimeoutError``: see ``control``). With ``batch_completions`` (default) results go in batches
through ``pgflow.complete_tasks_count``: one call at a time, carrying every result that arrived
while the previous call was in flight (so an idle worker reports at once); when that call fails,
its tasks are reported one by one with ``pgflow.complete_task``, and when the batched functions
are not installed every later result is. With ``claim_next_tasks`` (default) a batch goes
through ``pgflow.complete_tasks_and_claim`` instead: the tasks its results make ready in the
batch's main flow (a chain's next step, a map's elements; up to one per result, steps without
start delay) are started for this worker in the same transaction and run in the slots the
finished tasks free, with no read, NOTIFY or poll in between; the rest are queued as usual. A
worker of one flow also reads and starts that flow's next queued tasks in the same call, for the
slots the claim left (one round trip and one commit per batch instead of two).
Without ``batch_completions`` every result is one ``pgflow.complete_task``.

Connections. The read-and-start call and the completion batches share one connection of their
own (one warm backend per worker; tested after ``check_idle_after`` seconds idle and replaced
when it is gone); everything else borrows from a pool.

Background services: heartbeats (from a thread of their own, so a busy loop, a CPU-bound handler
or a full pool cannot hold them up), and the maintenance sweep, each call under a
transaction-level advisory try-lock so at most one worker of a database runs it at a time:
``pgflow.requeue_stalled_tasks()`` every ``maintenance_interval``; then, every heartbeat interval,
``pgflow.requeue_dead_worker_tasks`` (tasks of workers of the same ``function_name`` silent for
``dead_worker_timeout``, default 3 heartbeat intervals; ``recover_dead_workers=False`` turns it
off) and ``pgflow.fail_stalled_tasks()`` (a task stalled past the requeue limit fails its step).
The schedule ticker calls ``pgflow.tick_schedules()`` every ``schedule_tick_interval``; every
worker ticks, and ``FOR UPDATE SKIP LOCKED`` with the ``schedule_runs`` key make each scheduled
time start once. With ``retention``, maintenance also runs ``pgflow.prune_runs`` in bounded batches.
A service that dies stops the worker, and ``run()`` raises :class:`ServiceDied`.

Stopping. ``stop()`` stops polling, waits up to ``shutdown_grace`` for in-flight tasks, then
calls ``pgflow.mark_worker_stopped`` and closes its connections; tasks still running after the
grace period are abandoned unreported (``requeue_stalled_tasks`` recovers them once their flow's
timeout + 30 s has passed). Transient database errors (connection lost, server restart) are
logged and retried with exponential backoff capped at 5 s; the worker never exits on them.
Cancellation is never swallowed. Signal handling is the embedding application's job (the CLI
installs SIGTERM -> ``stop()``).
"""

from __future__ import annotations

from pgflow.worker.control import RetryAfter
from pgflow.worker.core import Worker
from pgflow.worker.flows import FlowLike, StepLike
from pgflow.worker.lifecycle import State
from pgflow.worker.options import CompileMode, WorkerOptions
from pgflow.worker.services import ServiceDied

__all__ = ["CompileMode", "FlowLike", "RetryAfter", "ServiceDied", "State", "StepLike", "Worker", "WorkerOptions"]
