-- pgflow_testing.fail_next(flow_slug, error_message, step_slug, run_id): plays the worker for one
-- task that fails: starts the flow's next queued task (see pgflow_testing._start_next: delays are
-- skipped) and reports `error_message` through pgflow.fail_task, which retries it (while attempts
-- remain: the retry is the next task again, its back-off skipped) or fails its step and run.
-- step_slug and run_id (both optional) say which task must be next.
-- Returns the failed task's pgflow.step_tasks row (status queued again when it will be retried).
-- Called by pgTAP tests.
-- Locks what _start_next and pgflow.fail_task lock.
-- Raises when the flow does not exist or has no queued task (matching the filters).
create or replace function pgflow_testing.fail_next(
    flow_slug text,
    error_message text,
    step_slug text default null,
    run_id uuid default null
)
returns pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_task pgflow.step_task_record;
    v_row pgflow.step_tasks;
begin
    v_task := pgflow_testing._start_next(fail_next.flow_slug, fail_next.step_slug, fail_next.run_id);
    if v_task.msg_id is null then
        raise exception using
            errcode = 'P0002',
            message = format(
                'pgflow_testing.fail_next: no queued task in flow "%s"%s%s',
                fail_next.flow_slug,
                coalesce(' for step "' || fail_next.step_slug || '"', ''),
                coalesce(' in run ' || fail_next.run_id::text, '')
            );
    end if;
    select * into v_row
    from pgflow.fail_task(v_task.run_id, v_task.step_slug, v_task.task_index, fail_next.error_message);
    return v_row;
end;
$$;
