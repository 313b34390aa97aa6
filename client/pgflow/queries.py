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
