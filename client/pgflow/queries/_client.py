"""The SQL client's statements (pgflow.client). Part of :mod:`pgflow.queries`."""

from __future__ import annotations

from typing import Final

from pgflow.queries._channels import *  # noqa: F403

__all__ = [
    "COMPLETE_TASK",
    "COMPLETE_TASKS",
    "COMPLETE_TASKS_AND_CLAIM",
    "COMPLETE_TASKS_CLAIM_AND_READ",
    "COMPLETE_TASKS_COUNT",
    "ENSURE_FLOW_COMPILED",
    "FAIL_STALLED_TASKS",
    "FAIL_TASK",
    "FLOW_INPUT",
    "GET_RUN",
    "GUARDED_COMPLETE_TASK",
    "GUARDED_FAIL_TASK",
    "HAS_SCHEMA",
    "HEARTBEAT",
    "MARK_WORKER_STOPPED",
    "NEXT_VISIBLE_IN",
    "READ",
    "READ_AND_START_TASKS",
    "READ_WITH_POLL",
    "REGISTER_WORKER",
    "REQUEUE_DEAD_WORKER_TASKS",
    "REQUEUE_STALLED_TASKS",
    "RUN_TRACEPARENT",
    "SCHEMA_VERSION",
    "STARTED_ATTEMPTS",
    "START_FLOW",
    "START_FLOW_TRACED",
    "START_TASKS",
    "TRY_MAINTENANCE_LOCK",
    "VERIFY_FLOW_SHAPE",
]

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

# Positional: run_ids, step_slugs, task_indexes, outputs, worker_id, qty, then queue_name,
# worker_id, vt, qty again. COMPLETE_TASKS_AND_CLAIM, then, in the same transaction,
# pgflow.read_and_start_tasks for what qty leaves (not called when the claim filled it): the rows
# of both, claimed tasks first. The read runs after the claim (its qty needs the claim's count)
# and sees the completions (each statement of a volatile function takes a new snapshot).
COMPLETE_TASKS_CLAIM_AND_READ: Final = """
with claimed as materialized (
    select
        flow_slug, run_id, step_slug, input, msg_id, task_index, flow_input, attempts_count,
        read_ct, enqueued_at, message_vt, message
    from pgflow.complete_tasks_and_claim(
        run_ids => %s::uuid[], step_slugs => %s::text[], task_indexes => %s::int[], outputs => %s::jsonb[],
        worker_id => %s::uuid, qty => %s::int
    )
)
select * from claimed
union all
select
    r.flow_slug, r.run_id, r.step_slug, r.input, r.msg_id, r.task_index, r.flow_input, r.attempts_count,
    r.read_ct, r.enqueued_at, r.message_vt, r.message
from (
    select
        %s::text as queue_name, %s::uuid as worker_id, %s::int as vt,
        %s::int - (select count(*)::int from claimed) as qty
) as a
cross join lateral pgflow.read_and_start_tasks(
    queue_name => a.queue_name, worker_id => a.worker_id, vt => a.vt, qty => a.qty
) as r
where a.qty > 0"""

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

# start_flow and the run's trace context (pgflow.run_trace_contexts) in one statement, so in one
# transaction; the join keeps the insert referenced by the final select.
START_FLOW_TRACED: Final = """
with started as (
    select * from pgflow.start_flow(
        flow_slug => %(flow_slug)s::text, input => %(input)s::jsonb, run_id => %(run_id)s::uuid
    )
),
traced as (
    insert into pgflow.run_trace_contexts (run_id, traceparent)
    select s.run_id, %(traceparent)s::text from started as s
    returning run_trace_contexts.run_id
)
select s.* from started as s inner join traced as t on t.run_id = s.run_id"""

RUN_TRACEPARENT: Final = """
select tc.traceparent from pgflow.run_trace_contexts as tc where tc.run_id = %(run_id)s::uuid"""

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

# Recovery beside the contract (issue 21), each in the transaction of TRY_MAINTENANCE_LOCK like
# REQUEUE_STALLED_TASKS. One row per task handled.
REQUEUE_DEAD_WORKER_TASKS: Final = """
select * from pgflow.requeue_dead_worker_tasks(
    heartbeat_timeout => make_interval(secs => %(heartbeat_timeout)s::float8), function_name => %(function_name)s::text
)"""

FAIL_STALLED_TASKS: Final = "select * from pgflow.fail_stalled_tasks()"

HAS_SCHEMA: Final = "select to_regprocedure('pgflow.schema_version()') is not null as present"

SCHEMA_VERSION: Final = "select * from pgflow.schema_version() as version"

# Seconds until the next message of a queue becomes visible (NULL when the queue is empty). pgmq
# has no function for this: {queue_table} is formatted with sql.Identifier("pgmq", "q_<queue>").
NEXT_VISIBLE_IN: Final = (
    "select extract(epoch from (min(q.vt) - clock_timestamp()))::float8 as seconds from {queue_table} as q"
)
