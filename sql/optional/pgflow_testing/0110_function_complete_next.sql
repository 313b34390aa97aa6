-- pgflow_testing.complete_next(flow_slug, output, step_slug, run_id): plays the worker for one task:
-- starts the flow's next queued task (see pgflow_testing._start_next: delays are skipped) and
-- completes it with `output` through pgflow.complete_task. For a map step, `output` is that one
-- element's output. step_slug and run_id (both optional) say which task must be next.
-- Returns the completed task's pgflow.step_tasks row.
-- Called by pgTAP tests.
-- Locks what _start_next and pgflow.complete_task lock.
-- Raises when the flow does not exist or has no queued task (matching the filters).
create or replace function pgflow_testing.complete_next(
    flow_slug text,
    output jsonb,
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
    v_task := pgflow_testing._start_next(complete_next.flow_slug, complete_next.step_slug, complete_next.run_id);
    if v_task.msg_id is null then
        raise exception using
            errcode = 'P0002',
            message = format(
                'pgflow_testing.complete_next: no queued task in flow "%s"%s%s',
                complete_next.flow_slug,
                coalesce(' for step "' || complete_next.step_slug || '"', ''),
                coalesce(' in run ' || complete_next.run_id::text, '')
            );
    end if;
    select * into v_row
    from pgflow.complete_task(v_task.run_id, v_task.step_slug, v_task.task_index, complete_next.output);
    return v_row;
end;
$$;
