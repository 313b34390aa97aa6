"""Every SQL statement the Python side sends, with the NOTIFY channel names and advisory-lock keys.

One module, so that a reader finds what the client, the worker, the CLI and the dashboard ask of
the database in one place, and a reviewer sees every statement next to its neighbours. Each
constant is a whole statement (no fragments glued together), with named parameters
(``%(name)s``) unless a hot path reads positional tuples, which its comment says.

Sections, in order: channels and lock keys; the SQL client; the worker; observability; the CLI; run control;
schedules; test helpers (pgflow.testing); the dashboard.
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

# ---- the worker -------------------------------------------------------------------------------
# What the worker sends itself, on its LISTEN connection (everything else goes through the SQL
# client); it LISTENs with LISTEN_TASKS / UNLISTEN_TASKS above.

# A round trip on the LISTEN connection while it is not listening: a connection that died while
# unused shows here, and is replaced.
WORKER_PING: Final = "select 1"

# ---- observability (worker hooks, metrics) -----------------------------------------------------
# Trace contexts are written and read by the SQL client (START_FLOW_TRACED, RUN_TRACEPARENT above).

# pgflow_queue_depth: messages in each flow's queue (visible, delayed and in flight).
QUEUE_DEPTHS: Final = """
select f.queue_name, m.queue_length
from unnest(%(queue_names)s::text[]) as f (queue_name)
cross join lateral pgmq.metrics(f.queue_name) as m"""

# on_run_finished, when the run's event was too large for NOTIFY: its output, or the error of its
# first failed step.
RUN_RESULT: Final = """
select
    r.output,
    (
        select ss.error_message from pgflow.step_states as ss
        where ss.run_id = r.run_id and ss.status = 'failed'
        order by ss.failed_at, ss.step_slug
        limit 1
    ) as error_message
from pgflow.runs as r
where r.run_id = %(run_id)s::uuid"""

# ---- the CLI ----------------------------------------------------------------------------------

# Before any command that needs the schema: true when the database has no pgflow schema (the
# CLI then says to run `pgflow migrate`).
CLI_SCHEMA_MISSING = "select to_regnamespace('pgflow') is null as schema_missing"

# `pgflow status`: a flow's steps in definition order (get_run_with_states orders by slug), each
# with its type and its dependencies (the DAG drawing).
CLI_STEP_ORDER = """
select s.step_slug, s.step_index, s.step_type,
       array(
           select d.dep_slug from pgflow.deps as d
           where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug
           order by d.dep_slug
       ) as deps
from pgflow.steps as s
where s.flow_slug = %(flow_slug)s
order by s.step_index
"""

# `pgflow inspect`: one run. cancelled_at is run control's column, read by name from the row's
# JSON so that the statement also serves a schema without it.
CLI_INSPECT_RUN = """
select r.run_id, r.flow_slug, r.status, r.remaining_steps, r.started_at, r.completed_at, r.failed_at,
       (to_jsonb(r) ->> 'cancelled_at')::timestamptz as cancelled_at
from pgflow.runs as r
where r.run_id = %(run_id)s
"""

# `pgflow inspect`: the run's failed steps with their errors, in definition order.
CLI_FAILED_STEPS = """
select ss.step_slug, ss.error_message, ss.started_at, ss.failed_at
from pgflow.step_states as ss
inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
where ss.run_id = %(run_id)s and ss.status = 'failed'
order by s.step_index
"""

# `pgflow inspect`: tasks of a run that failed (for good), then those that failed an attempt and
# were retried (status queued/started/completed with an error kept), by step definition order and
# task index; at most `limit` rows (the caller asks one more to know there are more).
CLI_FAILED_TASKS = """
select st.step_slug, st.task_index, st.status, st.attempts_count,
       coalesce(s.opt_max_attempts, f.opt_max_attempts) as max_attempts, st.error_message,
       st.queued_at, st.started_at, st.failed_at, st.completed_at, st.last_worker_id, st.requeued_count
from pgflow.step_tasks as st
inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
inner join pgflow.flows as f on f.flow_slug = st.flow_slug
where st.run_id = %(run_id)s and (st.status = 'failed' or st.error_message is not null)
order by st.status <> 'failed', s.step_index, st.task_index
limit %(limit)s
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

# the schedule functions the client calls; each returns the schedule's row (a NULL argument of
# update_schedule keeps the current value)
UPDATE_SCHEDULE: Final = """
select * from pgflow.update_schedule(
    schedule_slug => %(schedule_slug)s::text, flow_slug => %(flow_slug)s::text, cron => %(cron)s::text,
    input => %(input)s::jsonb, timezone => %(timezone)s::text, overlap_policy => %(overlap_policy)s::text,
    catchup_policy => %(catchup_policy)s::text, catchup_window => %(catchup_window)s::interval,
    enabled => %(enabled)s::boolean
)"""

DELETE_SCHEDULE: Final = "select * from pgflow.delete_schedule(schedule_slug => %(schedule_slug)s::text)"

PAUSE_SCHEDULE: Final = "select * from pgflow.pause_schedule(schedule_slug => %(schedule_slug)s::text)"

RESUME_SCHEDULE: Final = "select * from pgflow.resume_schedule(schedule_slug => %(schedule_slug)s::text)"

# every schedule (or one flow's), by slug
LIST_SCHEDULES: Final = """
select s.*
from pgflow.schedules as s
where %(flow_slug)s::text is null or s.flow_slug = %(flow_slug)s::text
order by s.schedule_slug"""

# tick_schedules at the database's own clock (TICK_SCHEDULES takes the instant)
TICK_SCHEDULES_NOW: Final = "select * from pgflow.tick_schedules()"

# A compiled flow's schedule (the DSL's, on the worker's start): created when missing, otherwise
# brought to the definition with update_schedule, which leaves `enabled` alone (an operator's pause
# survives a worker restart) and keeps next_scheduled_start_time unless the expression or zone
# changed. Run after LOCK_SCHEDULE_SLUG (below), in the same transaction, so that two workers
# starting at once do not both take the create branch. `offset 0` keeps the CASE evaluated once
# (`(expr).*` would evaluate it once per column).
ENSURE_SCHEDULE: Final = """
select (e.schedule).* from (
    select case
        when exists (select 1 from pgflow.schedules as s where s.schedule_slug = %(schedule_slug)s::text)
        then pgflow.update_schedule(
            schedule_slug => %(schedule_slug)s::text, flow_slug => %(flow_slug)s::text, cron => %(cron)s::text,
            input => %(input)s::jsonb, timezone => %(timezone)s::text, overlap_policy => %(overlap_policy)s::text,
            catchup_policy => %(catchup_policy)s::text, catchup_window => %(catchup_window)s::interval
        )
        else pgflow.create_schedule(
            schedule_slug => %(schedule_slug)s::text, flow_slug => %(flow_slug)s::text, cron => %(cron)s::text,
            input => %(input)s::jsonb, timezone => %(timezone)s::text, overlap_policy => %(overlap_policy)s::text,
            catchup_policy => %(catchup_policy)s::text, catchup_window => %(catchup_window)s::interval
        )
    end as schedule
    offset 0
) as e"""

SCHEDULE_LOCK_CLASS: Final = 7_412_021
"""First key of the pg_advisory_xact_lock(class, hashtext(schedule_slug)) that ENSURE_SCHEDULE runs under."""

LOCK_SCHEDULE_SLUG: Final = "select pg_advisory_xact_lock(%(lock_class)s::int, hashtext(%(schedule_slug)s::text))"

# ---- test helpers (pgflow.testing) -----------------------------------------------------------
# Throwaway databases for users' tests, and what run_to_completion asks beyond the SQL client.

# {name}, {template}: sql.Identifier. CREATE/DROP DATABASE cannot run in a transaction.
CREATE_DATABASE: Final = sql.SQL("create database {name}")
CREATE_DATABASE_FROM_TEMPLATE: Final = sql.SQL("create database {name} template {template}")
DROP_DATABASE: Final = sql.SQL("drop database if exists {name} with (force)")

# The run's status (NULL row: no such run).
TESTING_RUN_STATUS: Final = "select r.status from pgflow.runs as r where r.run_id = %(run_id)s::uuid"

# Skip start delays and retry back-off: make the queued tasks' messages of one run visible now.
# {queue_table} is formatted with sql.Identifier("pgmq", "q_<queue>").
TESTING_MAKE_RUN_VISIBLE: Final = """
update {queue_table} as q
set vt = clock_timestamp()
from pgflow.step_tasks as st
where st.run_id = %(run_id)s::uuid and st.status = 'queued' and q.msg_id = st.message_id
    and q.vt > clock_timestamp()
returning q.msg_id"""

# A run's tasks, for the result's per-task view.
TESTING_RUN_TASKS: Final = """
select st.step_slug, st.task_index, st.status, st.attempts_count, st.output, st.error_message
from pgflow.step_tasks as st
where st.run_id = %(run_id)s::uuid
order by st.step_slug, st.task_index"""

# ---- the dashboard --------------------------------------------------------------------------------
# The dashboard (pgflow.ui) reads with SELECT only, so that a read-only role can serve it (the
# README's "Dashboard" section lists the grants); its writes are the run actions below. Its pool
# sends every statement unprepared (prepare_threshold=None): each one is planned with its values,
# so the optional filters (`%(x)s::text is null or ...`) fold away and the indexes are used.

# /healthz: the pool answers.
UI_PING = "select 1"

# LISTEN on the events channel (the dashboard's own connection; the payload names the run).
UI_LISTEN_EVENTS = "listen pgflow"

# Runs list, newest first, one page past a keyset cursor (started_at, run_id): the first page
# passes null cursors. Served by the runs_by_* indexes (sql/0065_index_runs_by_*.sql).
UI_RUNS_OLDER = """
select r.run_id, r.flow_slug, r.status, r.remaining_steps, r.started_at,
       coalesce(r.completed_at, r.failed_at) as finished_at
from pgflow.runs as r
where (%(flow_slug)s::text is null or r.flow_slug = %(flow_slug)s::text)
  and (%(status)s::text is null or r.status = %(status)s::text)
  and (%(since)s::timestamptz is null or r.started_at >= %(since)s::timestamptz)
  and (%(until)s::timestamptz is null or r.started_at < %(until)s::timestamptz)
  and (
    %(cursor_started_at)s::timestamptz is null
    or (r.started_at, r.run_id) < (%(cursor_started_at)s::timestamptz, %(cursor_run_id)s::uuid)
  )
order by r.started_at desc, r.run_id desc
limit %(limit)s
"""

# The page before a cursor (the "newer" link): the same filters, read oldest first from the cursor
# up; the caller reverses the rows.
UI_RUNS_NEWER = """
select r.run_id, r.flow_slug, r.status, r.remaining_steps, r.started_at,
       coalesce(r.completed_at, r.failed_at) as finished_at
from pgflow.runs as r
where (%(flow_slug)s::text is null or r.flow_slug = %(flow_slug)s::text)
  and (%(status)s::text is null or r.status = %(status)s::text)
  and (%(since)s::timestamptz is null or r.started_at >= %(since)s::timestamptz)
  and (%(until)s::timestamptz is null or r.started_at < %(until)s::timestamptz)
  and (r.started_at, r.run_id) > (%(cursor_started_at)s::timestamptz, %(cursor_run_id)s::uuid)
order by r.started_at asc, r.run_id asc
limit %(limit)s
"""

# One run. cancelled_at and retry_of_run_id are run control's columns (cancel_run, retry_run):
# read by name from the row's JSON, so that one statement serves schemas with and without them.
UI_RUN = """
select r.run_id, r.flow_slug, r.status, r.input, r.output, r.remaining_steps, r.started_at,
       r.completed_at, r.failed_at,
       (to_jsonb(r) ->> 'cancelled_at')::timestamptz as cancelled_at,
       (to_jsonb(r) ->> 'retry_of_run_id')::uuid as retry_of_run_id
from pgflow.runs as r
where r.run_id = %(run_id)s
"""

# A run's steps in definition order, each with its state (null before the run created it) and
# its tasks counted by status.
UI_RUN_STEPS = """
select s.step_slug, s.step_type, s.step_index, ss.status, ss.initial_tasks, ss.remaining_tasks,
       ss.remaining_deps, ss.output, ss.error_message, ss.skip_reason, ss.created_at, ss.started_at,
       ss.completed_at, ss.failed_at, ss.skipped_at,
       coalesce(t.queued, 0) as tasks_queued, coalesce(t.started, 0) as tasks_started,
       coalesce(t.completed, 0) as tasks_completed, coalesce(t.failed, 0) as tasks_failed,
       coalesce(t.total, 0) as tasks_total
from pgflow.runs as r
inner join pgflow.steps as s on s.flow_slug = r.flow_slug
left join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = s.step_slug
left join lateral (
    select count(*) filter (where st.status = 'queued') as queued,
           count(*) filter (where st.status = 'started') as started,
           count(*) filter (where st.status = 'completed') as completed,
           count(*) filter (where st.status = 'failed') as failed,
           count(*) as total
    from pgflow.step_tasks as st
    where st.run_id = r.run_id and st.step_slug = s.step_slug
) as t on true
where r.run_id = %(run_id)s
order by s.step_index
"""

# A flow's edges, (dependency, step) pairs.
UI_FLOW_DEPS = """
select d.dep_slug, d.step_slug
from pgflow.deps as d
where d.flow_slug = %(flow_slug)s
order by d.step_slug, d.dep_slug
"""

# A run's tasks, at most `per_step` per step: failed first, then started, queued, completed, each
# by task index (a 10,000-element map shows what needs attention, not 10,000 rows).
UI_RUN_TASKS = """
select x.step_slug, x.task_index, x.status, x.attempts_count, x.error_message, x.output, x.queued_at,
       x.started_at, x.completed_at, x.failed_at, x.last_worker_id, x.requeued_count
from (
    select st.step_slug, st.task_index, st.status, st.attempts_count, st.error_message, st.output,
           st.queued_at, st.started_at, st.completed_at, st.failed_at, st.last_worker_id,
           st.requeued_count,
           row_number() over (
               partition by st.step_slug
               order by case st.status when 'failed' then 0 when 'started' then 1 when 'queued' then 2 else 3 end,
                        st.task_index
           ) as n
    from pgflow.step_tasks as st
    where st.run_id = %(run_id)s
) as x
where x.n <= %(per_step)s
order by x.step_slug, x.n
"""

# One step's tasks of a run, by task index past `after` (a page of the "all tasks" view), optionally
# of one status. Reads the primary key (run_id, step_slug, task_index).
UI_STEP_TASKS = """
select st.step_slug, st.task_index, st.status, st.attempts_count, st.error_message, st.output, st.queued_at,
       st.started_at, st.completed_at, st.failed_at, st.last_worker_id, st.requeued_count
from pgflow.step_tasks as st
where st.run_id = %(run_id)s
  and st.step_slug = %(step_slug)s
  and st.task_index > %(after)s
  and (%(status)s::text is null or st.status = %(status)s::text)
order by st.task_index
limit %(limit)s
"""

# A run's history, rebuilt from the timestamps the tables keep (events are NOTIFY-only): the run's
# transitions (its cancellation too, where run control's cancelled_at exists), its steps' and the
# tasks' final failures, oldest first (within one instant: the run's start, steps' starts, task
# failures, steps' ends, the run's end), at most `limit`.
UI_RUN_HISTORY = """
select h.at, h.event, h.step_slug, h.task_index, h.detail
from (
    select r.started_at as at, 0 as rank, 'run:started' as event, null::text as step_slug,
           null::int as task_index, null::text as detail
    from pgflow.runs as r where r.run_id = %(run_id)s
    union all
    select r.completed_at, 4, 'run:completed', null, null, null
    from pgflow.runs as r where r.run_id = %(run_id)s and r.completed_at is not null
    union all
    select r.failed_at, 4, 'run:failed', null, null, null
    from pgflow.runs as r where r.run_id = %(run_id)s and r.failed_at is not null
    union all
    select (to_jsonb(r) ->> 'cancelled_at')::timestamptz, 4, 'run:cancelled', null, null, null
    from pgflow.runs as r where r.run_id = %(run_id)s and to_jsonb(r) ->> 'cancelled_at' is not null
    union all
    select ss.started_at, 1, 'step:started', ss.step_slug, null, null
    from pgflow.step_states as ss where ss.run_id = %(run_id)s and ss.started_at is not null
    union all
    select ss.completed_at, 3, 'step:completed', ss.step_slug, null, null
    from pgflow.step_states as ss where ss.run_id = %(run_id)s and ss.completed_at is not null
    union all
    select ss.failed_at, 3, 'step:failed', ss.step_slug, null, ss.error_message
    from pgflow.step_states as ss where ss.run_id = %(run_id)s and ss.failed_at is not null
    union all
    select ss.skipped_at, 3, 'step:skipped', ss.step_slug, null, ss.skip_reason
    from pgflow.step_states as ss where ss.run_id = %(run_id)s and ss.skipped_at is not null
    union all
    select st.failed_at, 2, 'task:failed', st.step_slug, st.task_index, st.error_message
    from pgflow.step_tasks as st
    where st.run_id = %(run_id)s and st.status = 'failed' and st.failed_at is not null
) as h
order by h.at, h.rank, h.step_slug, h.task_index
limit %(limit)s
"""

# Every flow with its options, how many steps it has and its schedules' cron expressions.
UI_FLOWS = """
select f.flow_slug, f.opt_max_attempts, f.opt_base_delay, f.opt_timeout, f.created_at,
       (select count(*) from pgflow.steps as s where s.flow_slug = f.flow_slug) as step_count,
       array(
           select sc.cron || case when sc.enabled then '' else ' (paused)' end
           from pgflow.schedules as sc
           where sc.flow_slug = f.flow_slug
           order by sc.schedule_slug
       ) as schedules
from pgflow.flows as f
order by f.flow_slug
"""

# A flow's schedules (pgflow.schedules), by slug.
UI_FLOW_SCHEDULES = """
select sc.schedule_slug, sc.cron, sc.timezone, sc.input, sc.enabled, sc.overlap_policy, sc.catchup_policy,
       sc.next_scheduled_start_time, sc.last_run_id, sc.last_scheduled_for
from pgflow.schedules as sc
where sc.flow_slug = %(flow_slug)s
order by sc.schedule_slug
"""

# The runs retry_run started from a run (the "retried as" links), oldest first.
UI_RUN_RETRIES = """
select r.run_id, r.status, r.started_at
from pgflow.runs as r
where r.retry_of_run_id = %(run_id)s
order by r.started_at, r.run_id
"""

# One flow.
UI_FLOW = """
select f.flow_slug, f.opt_max_attempts, f.opt_base_delay, f.opt_timeout, f.created_at
from pgflow.flows as f
where f.flow_slug = %(flow_slug)s
"""

# A flow's steps with their options, in definition order.
UI_FLOW_STEPS = """
select s.step_slug, s.step_type, s.step_index, s.deps_count, s.opt_max_attempts, s.opt_base_delay,
       s.opt_timeout, s.opt_start_delay, s.required_input_pattern, s.forbidden_input_pattern,
       s.when_unmet, s.when_exhausted
from pgflow.steps as s
where s.flow_slug = %(flow_slug)s
order by s.step_index
"""

# Workers, those still running first, then the most recently heard from; with how many tasks each
# holds started right now.
UI_WORKERS = """
select w.worker_id, w.queue_name, w.function_name, w.started_at, w.deprecated_at, w.stopped_at,
       w.last_heartbeat_at, now() - w.last_heartbeat_at as heartbeat_age,
       (select count(*) from pgflow.step_tasks as st
        where st.last_worker_id = w.worker_id and st.status = 'started') as tasks_started
from pgflow.workers as w
order by w.stopped_at is not null, w.last_heartbeat_at desc, w.worker_id
limit %(limit)s
"""

# Queue depth per flow queue (pgmq's own metrics, queue by queue: needs select on each flow's
# queue table and its sequence, which pgflow.grant_viewer gives, and nothing of other queues).
UI_QUEUE_METRICS = """
select m.queue_name, m.queue_length, m.newest_msg_age_sec, m.oldest_msg_age_sec, m.total_messages
from (
    -- flows whose queue exists (offset 0: filtered before pgmq.metrics is called)
    select f.flow_slug from pgflow.flows as f
    where to_regclass(format('pgmq.%I', 'q_' || lower(f.flow_slug))) is not null
    offset 0
) as f
cross join lateral pgmq.metrics(f.flow_slug) as m
order by m.queue_name
"""

# Actions (need the token; the app refuses them when read-only).
UI_START_FLOW = "select r.run_id from pgflow.start_flow(flow_slug => %(flow_slug)s, input => %(input)s) as r"
UI_CANCEL_RUN = "select r.run_id, r.status from pgflow.cancel_run(run_id => %(run_id)s) as r"
UI_RETRY_RUN = "select r.run_id, r.status from pgflow.retry_run(run_id => %(run_id)s) as r"
UI_RESUME_RUN = "select r.run_id, r.status from pgflow.resume_run(run_id => %(run_id)s) as r"
