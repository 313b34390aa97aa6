"""Schedules. Part of :mod:`pgflow.queries`."""

from __future__ import annotations

from typing import Final

from pgflow.queries._channels import *  # noqa: F403

__all__ = [
    "CREATE_SCHEDULE",
    "CRON_NEXT_TIMES",
    "DELETE_SCHEDULE",
    "ENSURE_SCHEDULE",
    "LIST_SCHEDULES",
    "LOCK_SCHEDULE_SLUG",
    "PAUSE_SCHEDULE",
    "RESUME_SCHEDULE",
    "SCHEDULE_LOCK_CLASS",
    "SETUP_SCHEDULES_CRON",
    "TICK_SCHEDULES",
    "TICK_SCHEDULES_NOW",
    "UPDATE_SCHEDULE",
]

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
