-- pgflow.pause_schedule(schedule_slug): disables a schedule; tick_schedules starts nothing for it
-- until resume_schedule. Runs already started go on. Pausing a paused schedule changes nothing.
-- Returns the row. Called by operators and the CLI.
-- Locks: the schedule row (FOR UPDATE, by the update). Raises `schedule "<slug>" does not exist`.
create or replace function pgflow.pause_schedule(schedule_slug text)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_schedule pgflow.schedules;
begin
    update pgflow.schedules as s
    set enabled = false, updated_at = case when s.enabled then greatest(now(), s.created_at) else s.updated_at end
    where s.schedule_slug = pause_schedule.schedule_slug
    returning * into v_schedule;
    if v_schedule.schedule_slug is null then
        raise exception 'schedule % does not exist', coalesce('"' || pause_schedule.schedule_slug || '"', 'NULL');
    end if;
    return v_schedule;
end;
$$;
