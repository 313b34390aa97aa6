-- pgflow.cancel_run(run_id): stops a started run. Beside the contract (run control).
-- The run becomes `cancelled` (cancelled_at now(); remaining_steps and output untouched, as for
-- a failed run); its step states that were created or started become `cancelled`, and so do its
-- queued and started tasks; every message of those tasks is archived in one
-- pgmq.archive(queue, msg_ids[]) call, so no worker picks up more of its work; `run:cancelled` is
-- broadcast (Realtime and NOTIFY, as the other events; payload event_type, run_id, flow_slug,
-- status, cancelled_at). Completed, failed and skipped steps and tasks keep their state.
-- Afterwards the contract's callbacks for the run change nothing: complete_task and fail_task
-- find their step not started (late callback), start_tasks and requeue_stalled_tasks find no
-- queued or started task, the batched functions defer to complete_task.
-- A run that is not started (completed, failed, cancelled) is returned unchanged.
-- Example: select * from pgflow.cancel_run('<run_id>');
-- Called by clients (pgflow cancel <run_id>).
-- LOCKS: the run row, then its step_states rows, then its unfinished task rows in key order
-- (every writer of a run takes the run row first), then the tasks' queue messages (as
-- complete_task and requeue_stalled_tasks: task, then message). A worker that holds a message it
-- read (pgflow.read_and_start_tasks, pgmq.read + start_tasks in one transaction) while this call
-- waits for that message skips the task this call holds (pgflow._start_tasks locks SKIP LOCKED)
-- instead of waiting for it, so the two never deadlock.
-- Raises `Run <run_id> not found` (P0002) for an unknown run.
create or replace function pgflow.cancel_run(run_id uuid)
returns pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
    v_msg_ids bigint [];
begin
    -- GUARD + LOCKS: the run
    select * into v_run
    from pgflow.runs as r
    where r.run_id = cancel_run.run_id
    for update;

    if not found then
        raise exception 'Run % not found', cancel_run.run_id using errcode = 'P0002';
    end if;
    if v_run.status <> 'started' then
        return v_run;
    end if;

    -- MAIN: run, steps, tasks, then their messages
    update pgflow.runs as r
    set status = 'cancelled', cancelled_at = now()
    where r.run_id = cancel_run.run_id
    returning r.* into v_run;

    update pgflow.step_states as ss
    set status = 'cancelled'
    where ss.run_id = cancel_run.run_id and ss.status in ('created', 'started');

    -- tasks in key order (as every writer of several tasks), then their messages
    perform 1
    from pgflow.step_tasks as st
    where st.run_id = cancel_run.run_id and st.status in ('queued', 'started')
    order by st.step_slug, st.task_index
    for update;

    with cancelled as (
        update pgflow.step_tasks as st
        set status = 'cancelled'
        where st.run_id = cancel_run.run_id and st.status in ('queued', 'started')
        returning st.message_id
    )

    select coalesce(array_agg(c.message_id order by c.message_id), '{}') into v_msg_ids
    from cancelled as c
    where c.message_id is not null;

    if cardinality(v_msg_ids) > 0 then
        perform pgmq.archive(v_run.flow_slug, v_msg_ids);
    end if;

    perform pgflow._emit_event(
        'run:cancelled',
        jsonb_build_object(
            'event_type', 'run:cancelled',
            'run_id', v_run.run_id,
            'flow_slug', v_run.flow_slug,
            'status', v_run.status,
            'cancelled_at', v_run.cancelled_at
        )
    );

    return v_run;
end;
$$;
