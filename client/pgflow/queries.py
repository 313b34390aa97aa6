"""Every SQL statement the Python side sends, with the NOTIFY channel names and advisory-lock keys.

One module, so that a reader finds what the client, the worker, the CLI and the dashboard ask of
the database in one place, and a reviewer sees every statement next to its neighbours. Each
constant is a whole statement (no fragments glued together), with named parameters
(``%(name)s``) unless a hot path reads positional tuples, which its comment says.

Sections, in order: channels and lock keys; the SQL client; the worker; the CLI; run control;
schedules; the dashboard.
"""

from __future__ import annotations

from typing import Final

from psycopg import sql

# ---- channels and advisory-lock keys --------------------------------------------------------

EVENTS_CHANNEL: Final = "pgflow"
"""NOTIFY channel of run/step events (payload: the event JSON plus an "event" key)."""

TASKS_CHANNEL: Final = "pgflow_tasks"
"""NOTIFY channel that wakes workers (payload: the flow slug) when task messages become visible."""

MAINTENANCE_LOCK_KEY: Final = 7_412_020
"""pg_try_advisory_xact_lock key that makes at most one worker run the maintenance sweep."""

# LISTEN/UNLISTEN take the channel as an identifier, not a parameter.
LISTEN_EVENTS: Final = sql.SQL("listen {}").format(sql.Identifier(EVENTS_CHANNEL))
UNLISTEN_EVENTS: Final = sql.SQL("unlisten {}").format(sql.Identifier(EVENTS_CHANNEL))
LISTEN_TASKS: Final = sql.SQL("listen {}").format(sql.Identifier(TASKS_CHANNEL))
UNLISTEN_TASKS: Final = sql.SQL("unlisten {}").format(sql.Identifier(TASKS_CHANNEL))

# ---- the SQL client ---------------------------------------------------------------------------
# Used by pgflow.client (both clients). The three statements of the worker's hot path
# (READ_AND_START_TASKS, COMPLETE_TASKS_COUNT, COMPLETE_TASKS_AND_CLAIM) take positional
# parameters (%s) in the order their comment gives: they run ~400 times a second per worker.

READ_WITH_POLL: Final = """
select * from pgmq.read_with_poll(
    queue_name => %(queue_name)s::text, vt => %(vt)s::int, qty => %(qty)s::int,
    max_poll_seconds => %(max_poll_seconds)s::int, poll_interval_ms => %(poll_interval_ms)s::int
)"""

READ: Final = "select * from pgmq.read(queue_name => %(queue_name)s::text, vt => %(vt)s::int, qty => %(qty)s::int)"

# Positional: queue_name, worker_id, vt, qty. Rows are decoded by column name (the client's
# started_task_row): a task and its message per row.
READ_AND_START_TASKS: Final = """
select
    flow_slug, run_id, step_slug, input, msg_id, task_index, flow_input, attempts_count,
    read_ct, enqueued_at, message_vt, message
from pgflow.read_and_start_tasks(queue_name => %s::text, worker_id => %s::uuid, vt => %s::int, qty => %s::int)"""

START_TASKS: Final = """
select * from pgflow.start_tasks(
    flow_slug => %(flow_slug)s::text, msg_ids => %(msg_ids)s::bigint[], worker_id => %(worker_id)s::uuid
)"""

# Read in start_tasks' transaction, while the started rows are still locked by it.
STARTED_ATTEMPTS: Final = """
select st.run_id, st.step_slug, st.task_index, st.attempts_count
from pgflow.step_tasks as st
where st.flow_slug = %(flow_slug)s::text and st.message_id = any(%(msg_ids)s::bigint[])
    and st.status = 'started' and st.last_worker_id = %(worker_id)s::uuid"""

COMPLETE_TASK: Final = """
select * from pgflow.complete_task(
    run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
    output => %(output)s::jsonb
)"""

# Guarded reports, for calls that may be replays: pgflow's complete_task/fail_task name no
# attempt, so a fail_task replayed after a lost acknowledgement would fail the task's NEXT
# attempt. One statement (so it commits exactly when it answers, like the plain call): the
# function runs only while the task is still `started` on the attempt being reported. The
# subquery with `offset 0` keeps the function call per qualifying row (none -> not called).
GUARDED_COMPLETE_TASK: Final = """
select (g.t).* from (
    select pgflow.complete_task(
        run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
        output => %(output)s::jsonb
    ) as t
    from pgflow.step_tasks as st
    where st.run_id = %(run_id)s::uuid and st.step_slug = %(step_slug)s::text
        and st.task_index = %(task_index)s::int and st.status = 'started'
        and st.attempts_count = %(expected_attempt)s::int
    offset 0
) as g"""

# Positional: run_ids, step_slugs, task_indexes, outputs (array literals built by the client).
COMPLETE_TASKS_COUNT: Final = """
select pgflow.complete_tasks_count(
    run_ids => %s::uuid[], step_slugs => %s::text[], task_indexes => %s::int[], outputs => %s::jsonb[]
) as completed_count"""

# Positional: run_ids, step_slugs, task_indexes, outputs, worker_id, qty. Rows as
# READ_AND_START_TASKS'.
COMPLETE_TASKS_AND_CLAIM: Final = """
select
    flow_slug, run_id, step_slug, input, msg_id, task_index, flow_input, attempts_count,
    read_ct, enqueued_at, message_vt, message
from pgflow.complete_tasks_and_claim(
    run_ids => %s::uuid[], step_slugs => %s::text[], task_indexes => %s::int[], outputs => %s::jsonb[],
    worker_id => %s::uuid, qty => %s::int
)"""

COMPLETE_TASKS: Final = """
select * from pgflow.complete_tasks(
    run_ids => %(run_ids)s::uuid[], step_slugs => %(step_slugs)s::text[], task_indexes => %(task_indexes)s::int[],
    outputs => %(outputs)s::jsonb[]
)"""

FAIL_TASK: Final = """
select * from pgflow.fail_task(
    run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
    error_message => %(error_message)s::text
)"""

# See GUARDED_COMPLETE_TASK.
GUARDED_FAIL_TASK: Final = """
select (g.t).* from (
    select pgflow.fail_task(
        run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
        error_message => %(error_message)s::text
    ) as t
    from pgflow.step_tasks as st
    where st.run_id = %(run_id)s::uuid and st.step_slug = %(step_slug)s::text
        and st.task_index = %(task_index)s::int and st.status = 'started'
        and st.attempts_count = %(expected_attempt)s::int
    offset 0
) as g"""

START_FLOW: Final = """
select * from pgflow.start_flow(
    flow_slug => %(flow_slug)s::text, input => %(input)s::jsonb, run_id => %(run_id)s::uuid
)"""

GET_RUN: Final = "select * from pgflow.get_run_with_states(run_id => %(run_id)s::uuid) as result"

FLOW_INPUT: Final = "select r.input from pgflow.runs as r where r.run_id = %(run_id)s::uuid"

ENSURE_FLOW_COMPILED: Final = """
select * from pgflow.ensure_flow_compiled(
    flow_slug => %(flow_slug)s::text, shape => %(shape)s::jsonb, allow_data_loss => %(allow_data_loss)s::boolean
) as result"""

VERIFY_FLOW_SHAPE: Final = """
select
    exists (select 1 from pgflow.flows as f where f.flow_slug = %(flow_slug)s::text) as flow_exists,
    pgflow._compare_flow_shapes(
        p_local => %(shape)s::jsonb, p_db => pgflow._get_flow_shape(p_flow_slug => %(flow_slug)s::text)
    ) as differences"""

# The edge worker inserts its row with a plain INSERT (there is no pgflow function for it). A
# restart that reuses a worker id revives its row; an operator's deprecated_at is kept.
REGISTER_WORKER: Final = """
insert into pgflow.workers (worker_id, queue_name, function_name)
values (%(worker_id)s::uuid, %(queue_name)s::text, %(function_name)s::text)
on conflict (worker_id) do update
set queue_name = excluded.queue_name, function_name = excluded.function_name, started_at = now(),
    stopped_at = null, last_heartbeat_at = clock_timestamp()"""

HEARTBEAT: Final = """
update pgflow.workers as w set last_heartbeat_at = clock_timestamp()
where w.worker_id = %(worker_id)s::uuid
returning w.deprecated_at is not null as is_deprecated"""

MARK_WORKER_STOPPED: Final = "select * from pgflow.mark_worker_stopped(worker_id => %(worker_id)s::uuid)"

# Taken with MAINTENANCE_LOCK_KEY in the transaction of REQUEUE_STALLED_TASKS.
TRY_MAINTENANCE_LOCK: Final = "select pg_try_advisory_xact_lock(%(key)s::bigint) as locked"

REQUEUE_STALLED_TASKS: Final = "select * from pgflow.requeue_stalled_tasks() as requeued"

HAS_SCHEMA: Final = "select to_regprocedure('pgflow.schema_version()') is not null as present"

SCHEMA_VERSION: Final = "select * from pgflow.schema_version() as version"

# Seconds until the next message of a queue becomes visible (NULL when the queue is empty). pgmq
# has no function for this: {queue_table} is formatted with sql.Identifier("pgmq", "q_<queue>").
NEXT_VISIBLE_IN: Final = (
    "select extract(epoch from (min(q.vt) - clock_timestamp()))::float8 as seconds from {queue_table} as q"
)

# ---- the worker -------------------------------------------------------------------------------
# What the worker sends itself, on its LISTEN connection (everything else goes through the SQL
# client); it LISTENs with LISTEN_TASKS / UNLISTEN_TASKS above.

# A round trip on the LISTEN connection while it is not listening: a connection that died while
# unused shows here, and is replaced.
WORKER_PING: Final = "select 1"

# ---- the CLI ----------------------------------------------------------------------------------

# Before any command that needs the schema: true when the database has no pgflow schema (the
# CLI then says to run `pgflow migrate`).
CLI_SCHEMA_MISSING = "select to_regnamespace('pgflow') is null as schema_missing"

# `pgflow status`: the definition order of a flow's steps (get_run_with_states orders by slug).
CLI_STEP_ORDER = """
select s.step_slug, s.step_index
from pgflow.steps as s
where s.flow_slug = %(flow_slug)s
"""

# `pgflow runs`: the newest runs, optionally of one flow and/or one status.
CLI_LIST_RUNS = """
select r.run_id, r.flow_slug, r.status, r.started_at,
       coalesce(r.completed_at, r.failed_at, r.cancelled_at) as finished_at, r.remaining_steps
from pgflow.runs as r
where (%(flow_slug)s::text is null or r.flow_slug = %(flow_slug)s)
  and (%(status)s::text is null or r.status = %(status)s)
order by r.started_at desc, r.run_id
limit %(limit)s
"""

# ---- run control (cancel, retry, resume, idempotent start, prune) ------------------------------
# Used by the run-control methods of the SQL client (client/_async_control.py), the CLI's
# cancel/retry/resume/prune commands and the worker (retention, extend, retry_after).

CANCEL_RUN: Final = "select * from pgflow.cancel_run(run_id => %(run_id)s::uuid)"

RETRY_RUN: Final = "select * from pgflow.retry_run(run_id => %(run_id)s::uuid)"

RESUME_RUN: Final = "select * from pgflow.resume_run(run_id => %(run_id)s::uuid)"

START_FLOW_IDEMPOTENT: Final = """
select * from pgflow.start_flow_idempotent(
    flow_slug => %(flow_slug)s::text, input => %(input)s::jsonb, idempotency_key => %(idempotency_key)s::text
)"""

PRUNE_RUNS: Final = """
select pgflow.prune_runs(older_than => %(older_than)s::interval, max_runs => %(max_runs)s::int) as pruned"""

EXTEND_TASK_TIMEOUT: Final = """
select pgflow.extend_task_timeout(
    run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
    seconds => %(seconds)s::int
) as deadline_at"""

FAIL_TASK_WITH_DELAY: Final = """
select * from pgflow.fail_task_with_delay(
    run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
    error_message => %(error_message)s::text, retry_delay_seconds => %(retry_delay_seconds)s::int
)"""

# fail_task_with_delay guarded by the attempt being reported (see GUARDED_FAIL_TASK): the
# worker's path, which may replay a call whose acknowledgement was lost.
GUARDED_FAIL_TASK_WITH_DELAY: Final = """
select (g.t).* from (
    select pgflow.fail_task_with_delay(
        run_id => %(run_id)s::uuid, step_slug => %(step_slug)s::text, task_index => %(task_index)s::int,
        error_message => %(error_message)s::text, retry_delay_seconds => %(retry_delay_seconds)s::int
    ) as t
    from pgflow.step_tasks as st
    where st.run_id = %(run_id)s::uuid and st.step_slug = %(step_slug)s::text
        and st.task_index = %(task_index)s::int and st.status = 'started'
        and st.attempts_count = %(expected_attempt)s::int
    offset 0
) as g"""

SET_RETRY_POLICY: Final = """
select pgflow.set_retry_policy(
    flow_slug => %(flow_slug)s::text, step_slug => %(step_slug)s::text,
    retry_jitter => %(retry_jitter)s::numeric, max_retry_delay => %(max_retry_delay)s::int
)"""


# ---- schedules ----------------------------------------------------------------------------------

CREATE_SCHEDULE = """
select * from pgflow.create_schedule(
    schedule_slug => %(schedule_slug)s, flow_slug => %(flow_slug)s, cron => %(cron)s, input => %(input)s,
    timezone => %(timezone)s, overlap_policy => %(overlap_policy)s, catchup_policy => %(catchup_policy)s,
    catchup_window => %(catchup_window)s, enabled => %(enabled)s, start_after => %(start_after)s
)
"""

# one row per run started: (schedule_slug, run_id, scheduled_for)
TICK_SCHEDULES = "select * from pgflow.tick_schedules(now => %(now)s)"

# the coming `count` times of an expression (`pgflow schedule next`)
CRON_NEXT_TIMES = """
with recursive times (n, at) as (
    select 1, pgflow.cron_next(cron => %(cron)s, after => %(after)s, timezone => %(timezone)s)
    union all
    select t.n + 1, pgflow.cron_next(cron => %(cron)s, after => t.at, timezone => %(timezone)s)
    from times as t
    where t.n < %(count)s
)
select t.at from times as t order by t.n
"""

SETUP_SCHEDULES_CRON = "select pgflow.setup_schedules_cron()"

# ---- the dashboard --------------------------------------------------------------------------------
