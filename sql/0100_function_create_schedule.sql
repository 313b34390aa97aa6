-- pgflow.create_schedule(schedule_slug, flow_slug, cron, input, timezone, overlap_policy,
-- catchup_policy, catchup_window, enabled, start_after): creates a schedule that starts
-- `flow_slug` at every time `cron` names in `timezone` (see cron_next), ticked by tick_schedules.
-- Each run's input is `input` plus `"scheduled_for": "<the scheduled time, ISO 8601 UTC>"`.
-- The first time is the first match strictly after start_after (default now()); a start_after in
-- the past, with catchup_policy 'all' and a wide enough catchup_window, backfills on the next tick.
-- Returns the new row. Called by operators, compiled flows (the DSL) and the CLI.
-- Locks: the new row (insert). Raises what _check_schedule raises (bad slug, unknown flow, a flow
-- with a root map step, bad cron or zone, input not an object, bad policy or window) and
-- `schedule "<slug>" already exists ...`; nothing is written then.
create or replace function pgflow.create_schedule(
    schedule_slug text,
    flow_slug text,
    cron text,
    input jsonb default '{}',
    timezone text default 'UTC',
    overlap_policy text default 'allow',
    catchup_policy text default 'latest',
    catchup_window interval default '1 day',
    enabled boolean default true,
    start_after timestamptz default null
)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_schedule pgflow.schedules;
begin
    -- GUARD
    perform pgflow._check_schedule(
        create_schedule.schedule_slug, create_schedule.flow_slug, create_schedule.cron, create_schedule.input,
        create_schedule.timezone, create_schedule.overlap_policy, create_schedule.catchup_policy,
        create_schedule.catchup_window
    );
    if create_schedule.enabled is null then
        raise exception 'enabled must be true or false (got NULL)';
    end if;

    -- MAIN
    insert into pgflow.schedules as s (
        schedule_slug, flow_slug, cron, timezone, input, enabled, overlap_policy, catchup_policy, catchup_window,
        next_scheduled_start_time
    )
    values (
        create_schedule.schedule_slug, create_schedule.flow_slug, create_schedule.cron, create_schedule.timezone,
        create_schedule.input, create_schedule.enabled, create_schedule.overlap_policy,
        create_schedule.catchup_policy, create_schedule.catchup_window,
        pgflow.cron_next(
            create_schedule.cron, coalesce(create_schedule.start_after, now()), create_schedule.timezone
        )
    )
    on conflict on constraint schedules_pkey do nothing
    returning * into v_schedule;

    if v_schedule.schedule_slug is null then
        raise exception 'schedule "%" already exists (change it with pgflow.update_schedule)',
            create_schedule.schedule_slug;
    end if;
    return v_schedule;
end;
$$;
