"""Every SQL statement the Python side sends, with the NOTIFY channel names and advisory-lock keys.

One module, so that a reader finds what the client, the worker, the CLI and the dashboard ask of
the database in one place, and a reviewer sees every statement next to its neighbours. Each
constant is a whole statement (no fragments glued together), with named parameters
(``%(name)s``) unless a hot path reads positional tuples, which its comment says.

Sections, in order: channels and lock keys; the SQL client; the worker; the CLI; run control;
schedules; the dashboard.
"""

from __future__ import annotations

# ---- channels and advisory-lock keys --------------------------------------------------------

# ---- the SQL client ---------------------------------------------------------------------------

# ---- the worker -------------------------------------------------------------------------------

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
       coalesce(r.completed_at, r.failed_at) as finished_at, r.remaining_steps
from pgflow.runs as r
where (%(flow_slug)s::text is null or r.flow_slug = %(flow_slug)s)
  and (%(status)s::text is null or r.status = %(status)s)
order by r.started_at desc, r.run_id
limit %(limit)s
"""

# ---- run control (cancel, retry, resume, idempotent start, prune) ------------------------------

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
