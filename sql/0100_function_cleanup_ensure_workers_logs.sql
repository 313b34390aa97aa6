-- pgflow.cleanup_ensure_workers_logs(retention_hours): deletes pg_cron run history older than
-- retention_hours (default 24) from cron.job_run_details; a once-a-second ensure_workers job
-- writes 86,400 rows a day there. Called hourly by the cron job pgflow_cleanup_logs.
-- Returns one row: the number of rows deleted. SECURITY DEFINER: cron.job_run_details belongs
-- to the pg_cron owner.
-- Locks: the deleted rows. Raises `pg_cron is not installed: ...` without the cron schema
-- (plpgsql, so that the schema installs without pg_cron).
create or replace function pgflow.cleanup_ensure_workers_logs(retention_hours integer default 24)
returns table (cron_deleted bigint)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if to_regclass('cron.job_run_details') is null then
        raise exception 'pg_cron is not installed: pgflow.cleanup_ensure_workers_logs() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron)';
    end if;

    return query
    with deleted as (
        delete from cron.job_run_details as d
        where d.end_time < now() - make_interval(hours => cleanup_ensure_workers_logs.retention_hours)
        returning 1
    )

    select count(*) from deleted;
end;
$$;
