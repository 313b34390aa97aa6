-- pgflow.setup_requeue_stalled_tasks_cron(cron_interval): (re)schedules the pg_cron job
-- pgflow_requeue_stalled_tasks (every cron_interval, default '15 seconds', runs
-- `select pgflow.requeue_stalled_tasks()`). Idempotent: an existing job of that name is
-- unscheduled first, so exactly one remains.
-- Called by operators, and once at install when pg_cron is present (0950_install_cron_jobs).
-- Returns `Scheduled pgflow_requeue_stalled_tasks (every <interval>, job_id=<id>)`.
-- SECURITY DEFINER: the job belongs to the owner.
-- Locks: cron.job rows (via pg_cron). Raises `pg_cron is not installed: ...` without the cron
-- schema (plpgsql, so that the schema installs without pg_cron).
create or replace function pgflow.setup_requeue_stalled_tasks_cron(cron_interval text default '15 seconds')
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
        raise exception 'pg_cron is not installed: pgflow.setup_requeue_stalled_tasks_cron() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron)';
    end if;

    -- pg_cron raises when the job does not exist: that is the normal first-install case
    begin
        perform cron.unschedule('pgflow_requeue_stalled_tasks');
    exception when others then
        null;
    end;

    v_job_id := cron.schedule(
        'pgflow_requeue_stalled_tasks', setup_requeue_stalled_tasks_cron.cron_interval,
        'select pgflow.requeue_stalled_tasks()'
    );

    return format(
        'Scheduled pgflow_requeue_stalled_tasks (every %s, job_id=%s)',
        setup_requeue_stalled_tasks_cron.cron_interval, v_job_id
    );
end;
$$;
