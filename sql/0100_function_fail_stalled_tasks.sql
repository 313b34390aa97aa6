-- pgflow.fail_stalled_tasks(): ends the runs that stalled tasks would otherwise hold forever. Not
-- part of pgflow's API: pgflow's requeue_stalled_tasks (unchanged here) gives up on a task after 3
-- requeues by stamping permanently_stalled_at and archiving its message, and leaves the task, its
-- step and its run `started` for good (spec section 13, quirk 12).
-- Each task that is `started`, permanently stalled, in a `started` step of a `started` run is
-- failed through pgflow.fail_task, as a failure of its handler would be, with the error message
-- `Task stalled <n> times (requeued <n - 1> times, the limit): each time its worker stopped
-- reporting before the task's timeout + 30 s or its heartbeat stopped` (n = requeued_count + 1).
-- fail_task never retries a permanently stalled task, so the step's when_exhausted decides: `fail`
-- fails the step and the run (`step:<slug>:failed`, `run:failed`, the run's messages archived);
-- `skip` / `skip-cascade` skip the step (and its descendants) and the run goes on. A failed run can
-- then be retried or resumed with the run-control functions.
-- Returns one row per task it failed: flow_slug, run_id, step_slug, task_index, stalled_count (n),
-- and the step's and the run's status afterwards (for a log line).
-- Called by maintenance callers after requeue_stalled_tasks and requeue_dead_worker_tasks (the
-- pgflow-py worker's maintenance loop and `pgflow maintain`, in the second part of issue 21), and
-- by the pg_cron job of pgflow.setup_recovery_cron.
-- One fail_task call per task (the transitions, events and cascades are fail_task's, not copied
-- here); there are few such tasks, each the fourth stall of one task.
-- Locks: as fail_task, task by task in (run_id, step_slug, task_index) order: the run, its step
-- state, the task. The candidates are read without locks; fail_task's compare-and-set on status
-- `started` makes a task failed meanwhile (or completed by a late worker) a no-op, not returned.
-- Not SECURITY DEFINER: its callers, workers and the cron job's owner, have the rights fail_task needs.
-- Raises what fail_task raises (nothing of its own).
create or replace function pgflow.fail_stalled_tasks()
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    task_index int,
    stalled_count int,
    step_status text,
    run_status text
)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_task record;
    v_failed pgflow.step_tasks;
    v_message text;
begin
    for v_task in
        select t.flow_slug, t.run_id, t.step_slug, t.task_index, t.requeued_count + 1 as stalled_count
        from pgflow.step_tasks as t
        inner join pgflow.runs as r on r.run_id = t.run_id
        inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
        where
            t.status = 'started'
            and t.permanently_stalled_at is not null
            and r.status = 'started'
            and ss.status = 'started'
        order by t.run_id, t.step_slug, t.task_index
    loop
        v_message := format(
            'Task stalled %s times (requeued %s times, the limit): each time its worker stopped reporting '
            'before the task''s timeout + 30 s or its heartbeat stopped',
            v_task.stalled_count, v_task.stalled_count - 1
        );

        select * into v_failed
        from pgflow.fail_task(v_task.run_id, v_task.step_slug, v_task.task_index, v_message) as ft;

        if v_failed.status = 'failed' and v_failed.error_message = v_message then
            return query
            select
                v_task.flow_slug,
                v_task.run_id,
                v_task.step_slug,
                v_task.task_index,
                v_task.stalled_count,
                ss.status,
                r.status
            from pgflow.runs as r
            inner join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = v_task.step_slug
            where r.run_id = v_task.run_id;
        end if;
    end loop;
end;
$$;
