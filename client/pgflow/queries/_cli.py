"""The CLI's own statements (pgflow.cli). Part of :mod:`pgflow.queries`."""

from __future__ import annotations

from pgflow.queries._channels import *  # noqa: F403

__all__ = [
    "CLI_FAILED_STEPS",
    "CLI_FAILED_TASKS",
    "CLI_INSPECT_RUN",
    "CLI_LIST_RUNS",
    "CLI_SCHEMA_MISSING",
    "CLI_STEP_ORDER",
]

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
