-- pgflow.resume_schedule(schedule_slug): enables a paused schedule. Its next time is the first
-- match after now() (and after its last scheduled time): the times it missed while paused are
-- not caught up. Resuming an enabled schedule changes nothing. Returns the row.
-- Called by operators and the CLI.
-- Locks: the schedule row (FOR UPDATE, by the update). Raises `schedule "<slug>" does not exist`.
create or replace function pgflow.resume_schedule(schedule_slug text)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_schedule pgflow.schedules;
begin
    update pgflow.schedules as s
    set
        enabled = true,
        next_scheduled_start_time = case
            when s.enabled then s.next_scheduled_start_time
            else pgflow.cron_next(s.cron, greatest(now(), s.last_scheduled_for), s.timezone)
        end,
        updated_at = case when s.enabled then s.updated_at else greatest(now(), s.created_at) end
    where s.schedule_slug = resume_schedule.schedule_slug
    returning * into v_schedule;
    if v_schedule.schedule_slug is null then
        raise exception 'schedule % does not exist', coalesce('"' || resume_schedule.schedule_slug || '"', 'NULL');
    end if;
    return v_schedule;
end;
$$;
