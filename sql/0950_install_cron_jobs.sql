-- Install-time scheduling (pgflow does this in its schema and migrations): the stall requeue
-- every 15 seconds and worker management every second; beside them, pgflow-py's
-- pgflow_recover_tasks (pgflow.fail_stalled_tasks every 5 seconds; dead-worker recovery is opt-in,
-- see pgflow.setup_recovery_cron). Only where pg_cron (or a stand-in with
-- cron.schedule) is present when the schema is installed; on plain PostgreSQL this does nothing
-- and the jobs can be scheduled later with pgflow.setup_requeue_stalled_tasks_cron() and
-- pgflow.setup_ensure_workers_cron() (and pgflow.setup_recovery_cron()).
do $$
begin
    if to_regprocedure('cron.schedule(text,text,text)') is not null then
        perform pgflow.setup_requeue_stalled_tasks_cron();
        perform pgflow.setup_ensure_workers_cron('1 second');
        perform pgflow.setup_recovery_cron();
    end if;
end;
$$;
