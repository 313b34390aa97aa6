-- pgflow.delete_schedule(schedule_slug): deletes a schedule and returns its last state. Runs it
-- started are kept (their input still carries "scheduled_for"); their schedule_runs links go.
-- Called by operators and the CLI.
-- Locks: the schedule row (delete; waits for a tick_schedules holding it), then its schedule_runs
-- rows (ON DELETE CASCADE). Raises `schedule "<slug>" does not exist`.
create or replace function pgflow.delete_schedule(schedule_slug text)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_schedule pgflow.schedules;
begin
    delete from pgflow.schedules as s
    where s.schedule_slug = delete_schedule.schedule_slug
    returning * into v_schedule;
    if v_schedule.schedule_slug is null then
        raise exception 'schedule % does not exist', coalesce('"' || delete_schedule.schedule_slug || '"', 'NULL');
    end if;
    return v_schedule;
end;
$$;
