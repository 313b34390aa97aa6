-- pgflow.setup_ensure_workers_cron(cron_interval): (re)schedules the two pg_cron jobs of worker
-- management: pgflow_ensure_workers (every cron_interval, default '1 second', runs
-- `select pgflow.ensure_workers()`) and pgflow_cleanup_logs (hourly, `0 * * * *`, runs
-- `select pgflow.cleanup_ensure_workers_logs()`). Idempotent: existing jobs of those names are
-- unscheduled first, so exactly one job per name remains.
-- Called by operators, and once at install when pg_cron is present (0950_install_cron_jobs).
-- Returns `Scheduled pgflow_ensure_workers (every <interval>, job_id=<id>) and
-- pgflow_cleanup_logs (hourly, job_id=<id>)`. SECURITY DEFINER: jobs belong to the owner.
-- Locks: cron.job rows (via pg_cron). Raises `pg_cron is not installed: ...` without the cron
-- schema (plpgsql, so that the schema installs without pg_cron).
create or replace function pgflow.setup_ensure_workers_cron(cron_interval text default '1 second')
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_ensure_job_id bigint;
    v_cleanup_job_id bigint;
begin
    -- pg_cron's unschedule-by-name takes a `name` (Supabase's too); the pgTAP stand-in's a `text`
    if to_regprocedure('cron.schedule(text,text,text)') is null
        or coalesce(to_regprocedure('cron.unschedule(name)'), to_regprocedure('cron.unschedule(text)')) is null then
        raise exception 'pg_cron is not installed: pgflow.setup_ensure_workers_cron() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron)';
    end if;

    -- pg_cron raises when the job does not exist: that is the normal first-install case
    begin
        perform cron.unschedule('pgflow_ensure_workers');
    exception when others then
        null;
    end;
    begin
        perform cron.unschedule('pgflow_cleanup_logs');
    exception when others then
        null;
    end;

    v_ensure_job_id := cron.schedule(
        'pgflow_ensure_workers', setup_ensure_workers_cron.cron_interval, 'select pgflow.ensure_workers()'
    );
    v_cleanup_job_id := cron.schedule(
        'pgflow_cleanup_logs', '0 * * * *', 'select pgflow.cleanup_ensure_workers_logs()'
    );

    return format(
        'Scheduled pgflow_ensure_workers (every %s, job_id=%s) and pgflow_cleanup_logs (hourly, job_id=%s)',
        setup_ensure_workers_cron.cron_interval, v_ensure_job_id, v_cleanup_job_id
    );
end;
$$;
