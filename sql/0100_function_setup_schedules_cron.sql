-- pgflow.setup_schedules_cron(): (re)schedules the pg_cron job pgflow_tick_schedules, every minute
-- (`* * * * *`, so at second 0, just after the times schedules name), running
-- `select pgflow.tick_schedules()`. Idempotent: an existing job of that name is unscheduled
-- first, so exactly one remains. Workers tick schedules too: running both is safe
-- (tick_schedules starts each scheduled time once).
-- Called by operators where pg_cron is installed (not at install time: schedules are opt-in).
-- Returns `Scheduled pgflow_tick_schedules (every minute, job_id=<id>)`. SECURITY DEFINER: the
-- job belongs to the owner.
-- Locks: cron.job rows (via pg_cron). Raises `pg_cron is not installed: ...` without the cron
-- schema (plpgsql, so that the schema installs without pg_cron).
create or replace function pgflow.setup_schedules_cron()
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_job_id bigint;
begin
    -- pg_cron's unschedule-by-name takes a `name` (Supabase's too); the pgTAP stand-in's a `text`
    if to_regprocedure('cron.schedule(text,text,text)') is null
        or coalesce(to_regprocedure('cron.unschedule(name)'), to_regprocedure('cron.unschedule(text)')) is null then
        raise exception 'pg_cron is not installed: pgflow.setup_schedules_cron() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron); without it, workers tick schedules, or call '
            'pgflow.tick_schedules() from any timer';
    end if;

    -- pg_cron raises when the job does not exist: that is the normal first-install case
    begin
        perform cron.unschedule('pgflow_tick_schedules');
    exception when others then
        null;
    end;

    v_job_id := cron.schedule('pgflow_tick_schedules', '* * * * *', 'select pgflow.tick_schedules()');

    return format('Scheduled pgflow_tick_schedules (every minute, job_id=%s)', v_job_id);
end;
$$;
