"""The dashboard (pgflow.ui). Part of :mod:`pgflow.queries`."""

from __future__ import annotations

from pgflow.queries._channels import *  # noqa: F403

__all__ = [
    "UI_CANCEL_RUN",
    "UI_FLOW",
    "UI_FLOWS",
    "UI_FLOW_DEPS",
    "UI_FLOW_SCHEDULES",
    "UI_FLOW_STEPS",
    "UI_LISTEN_EVENTS",
    "UI_PING",
    "UI_QUEUE_METRICS",
    "UI_RESUME_RUN",
    "UI_RETRY_RUN",
    "UI_RUN",
    "UI_RUNS_NEWER",
    "UI_RUNS_OLDER",
    "UI_RUN_HISTORY",
    "UI_RUN_RETRIES",
    "UI_RUN_STEPS",
    "UI_RUN_TASKS",
    "UI_START_FLOW",
    "UI_STEP_TASKS",
    "UI_WORKERS",
]

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
