-- Install-time scheduling (pgflow does this in its schema and migrations): the stall requeue
-- every 15 seconds and worker management every second; beside them, pgflow-py's
-- pgflow_recover_tasks (pgflow.fail_stalled_tasks every 5 seconds; dead-worker recovery is opt-in,
-- see pgflow.setup_recovery_cron). Only where pg_cron (or a stand-in with
-- cron.schedule) is present when the schema is installed; on plain PostgreSQL this does nothing
-- and the jobs can be scheduled later with pgflow.setup_requeue_stalled_tasks_cron() and
-- pgflow.setup_ensure_workers_cron() (and pgflow.setup_recovery_cron()).
-- A job pg_cron refuses (pg_cron before 1.5 takes no `N seconds` intervals) is reported with a
-- NOTICE naming the setup call to run with a cron expression, and the install goes on.
do $$
declare
    v_setup text;
begin
    if to_regprocedure('cron.schedule(text,text,text)') is not null then
        foreach v_setup in array array[
            'select pgflow.setup_requeue_stalled_tasks_cron()',
            'select pgflow.setup_ensure_workers_cron(''1 second'')',
            'select pgflow.setup_recovery_cron()'
        ] loop
            begin
                execute v_setup;
            exception when others then
                raise notice 'pgflow: % was not scheduled (%): run it again with a schedule this pg_cron accepts',
                    v_setup, sqlerrm;
            end;
        end loop;
    end if;
end;
$$;
