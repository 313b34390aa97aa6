-- Install-time scheduling (pgflow does this in its schema and migrations): the stall requeue
-- every 15 seconds and worker management every second. Only where pg_cron (or a stand-in with
-- cron.schedule) is present when the schema is installed; on plain PostgreSQL this does nothing
-- and the jobs can be scheduled later with pgflow.setup_requeue_stalled_tasks_cron() and
-- pgflow.setup_ensure_workers_cron().
do $$
begin
    if to_regprocedure('cron.schedule(text,text,text)') is not null then
        perform pgflow.setup_requeue_stalled_tasks_cron();
        perform pgflow.setup_ensure_workers_cron('1 second');
    end if;
end;
$$;
