-- pgflow.setup_recovery_cron(cron_interval, heartbeat_timeout, function_name): (re)schedules the
-- pg_cron job
-- pgflow_recover_tasks, beside pgflow's pgflow_requeue_stalled_tasks (which it leaves as it is).
-- Not part of pgflow's API. Every cron_interval (default '5 seconds') the job runs
--   * heartbeat_timeout NULL (the default):  `select pgflow.fail_stalled_tasks()`;
--   * heartbeat_timeout given:  `select pgflow.requeue_dead_worker_tasks(heartbeat_timeout =>
--     '<heartbeat_timeout>'::interval, function_name => <function_name or NULL>); select
--     pgflow.fail_stalled_tasks()` (function_name: only workers registered under that name).
-- Dead-worker recovery is opt-in because it is only safe when every worker of the database
-- heartbeats while its handlers run (pgflow-py does; pgflow's TypeScript edge worker heartbeats
-- between batches, so its long handlers would be requeued while they run).
-- Idempotent: an existing job of that name is unscheduled first, so exactly one remains.
-- Called by operators, and once at install when pg_cron is present (0950_install_cron_jobs), with
-- the defaults. Returns `Scheduled pgflow_recover_tasks (every <interval>, job_id=<id>): <what it
-- runs>`. Not SECURITY DEFINER: the job runs as the role that calls this.
-- Locks: cron.job rows (via pg_cron). Raises `pg_cron is not installed: ...` without the cron
-- schema (plpgsql, so that the schema installs without pg_cron), and
-- `heartbeat_timeout must be a positive interval, got <value>`.
create or replace function pgflow.setup_recovery_cron(
    cron_interval text default '5 seconds', heartbeat_timeout interval default null, function_name text default null
)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_job_id bigint;
    v_command text;
begin
    if to_regprocedure('cron.schedule(text,text,text)') is null or to_regprocedure('cron.unschedule(text)') is null then
        raise exception 'pg_cron is not installed: pgflow.setup_recovery_cron() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron)';
    end if;
    if setup_recovery_cron.heartbeat_timeout <= interval '0' then
        raise exception 'heartbeat_timeout must be a positive interval, got %', setup_recovery_cron.heartbeat_timeout;
    end if;

    -- A cron job is SQL text, so the values go in as literals: format's %L quotes the interval's
    -- canonical text and the function name (NULL becomes NULL).
    v_command := case
        when setup_recovery_cron.heartbeat_timeout is null then 'select pgflow.fail_stalled_tasks()'
        else format(
            'select pgflow.requeue_dead_worker_tasks(heartbeat_timeout => %L::interval, function_name => %L::text); '
            'select pgflow.fail_stalled_tasks()',
            setup_recovery_cron.heartbeat_timeout, setup_recovery_cron.function_name
        )
    end;

    -- pg_cron raises when the job does not exist: that is the normal first-install case
    begin
        perform cron.unschedule('pgflow_recover_tasks');
    exception when others then
        null;
    end;

    v_job_id := cron.schedule('pgflow_recover_tasks', setup_recovery_cron.cron_interval, v_command);

    return format(
        'Scheduled pgflow_recover_tasks (every %s, job_id=%s): %s',
        setup_recovery_cron.cron_interval, v_job_id, v_command
    );
end;
$$;
