-- pgflow.update_schedule(schedule_slug, flow_slug, cron, input, timezone, overlap_policy,
-- catchup_policy, catchup_window, enabled): changes the settings given (a NULL argument keeps the
-- current value) and returns the row. When the expression or the zone changes, or the schedule is
-- enabled again, next_scheduled_start_time becomes the first match after now() (and after the
-- last scheduled time): times missed while it was disabled are not caught up.
-- Called by operators, the CLI and the DSL when a flow's schedule changes.
-- Locks: the schedule row (FOR UPDATE; waits for a tick_schedules holding it).
-- Raises `schedule "<slug>" does not exist`, and what _check_schedule raises for the new settings;
-- nothing is written then.
create or replace function pgflow.update_schedule(
    schedule_slug text,
    flow_slug text default null,
    cron text default null,
    input jsonb default null,
    timezone text default null,
    overlap_policy text default null,
    catchup_policy text default null,
    catchup_window interval default null,
    enabled boolean default null
)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_old pgflow.schedules;
    v_new pgflow.schedules;
begin
    -- LOCKS
    select s.* into v_old from pgflow.schedules as s where s.schedule_slug = update_schedule.schedule_slug for update;
    if v_old.schedule_slug is null then
        raise exception 'schedule % does not exist', coalesce('"' || update_schedule.schedule_slug || '"', 'NULL');
    end if;

    -- GUARD
    v_new := v_old;
    v_new.flow_slug := coalesce(update_schedule.flow_slug, v_old.flow_slug);
    v_new.cron := coalesce(update_schedule.cron, v_old.cron);
    v_new.input := coalesce(update_schedule.input, v_old.input);
    v_new.timezone := coalesce(update_schedule.timezone, v_old.timezone);
    v_new.overlap_policy := coalesce(update_schedule.overlap_policy, v_old.overlap_policy);
    v_new.catchup_policy := coalesce(update_schedule.catchup_policy, v_old.catchup_policy);
    v_new.catchup_window := coalesce(update_schedule.catchup_window, v_old.catchup_window);
    v_new.enabled := coalesce(update_schedule.enabled, v_old.enabled);
    perform pgflow._check_schedule(
        v_new.schedule_slug, v_new.flow_slug, v_new.cron, v_new.input, v_new.timezone, v_new.overlap_policy,
        v_new.catchup_policy, v_new.catchup_window
    );

    -- MAIN
    if v_new.cron <> v_old.cron or v_new.timezone <> v_old.timezone or (v_new.enabled and not v_old.enabled) then
        v_new.next_scheduled_start_time := pgflow.cron_next(
            v_new.cron, greatest(now(), v_old.last_scheduled_for), v_new.timezone
        );
    end if;

    update pgflow.schedules as s
    set
        flow_slug = v_new.flow_slug,
        cron = v_new.cron,
        input = v_new.input,
        timezone = v_new.timezone,
        overlap_policy = v_new.overlap_policy,
        catchup_policy = v_new.catchup_policy,
        catchup_window = v_new.catchup_window,
        enabled = v_new.enabled,
        next_scheduled_start_time = v_new.next_scheduled_start_time,
        updated_at = greatest(now(), s.created_at)
    where s.schedule_slug = v_old.schedule_slug
    returning * into v_new;
    return v_new;
end;
$$;
