-- pgflow.fail_task_with_delay(run_id, step_slug, task_index, error_message, retry_delay_seconds):
-- pgflow.fail_task with the retry delay chosen by the handler for this one failure (an HTTP 429's
-- Retry-After, say). Beside the contract. The effect is fail_task's in every case; only when this
-- call puts a started task back in the queue for another attempt is its message hidden for
-- retry_delay_seconds instead of the computed backoff (no jitter, no cap: the handler knows
-- best). Attempts are counted as usual: an exhausted task fails, whatever the delay.
-- retry_delay_seconds NULL: exactly fail_task.
-- Example: select * from pgflow.fail_task_with_delay('<run_id>', 'fetch', 0, 'HTTP 429', 120);
-- Called by the pgflow-py worker for exceptions carrying retry_after.
-- LOCKS: the run row first (as fail_task, which then locks the step state and the task).
-- Raises `retry_delay_seconds must be >= 0 (got <n>)`; nothing else of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.fail_task_with_delay(
    run_id uuid, step_slug text, task_index int, error_message text, retry_delay_seconds integer
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_before text;
    v_task pgflow.step_tasks;
begin
    -- GUARD
    if fail_task_with_delay.retry_delay_seconds < 0 then
        raise exception 'retry_delay_seconds must be >= 0 (got %)', fail_task_with_delay.retry_delay_seconds
            using errcode = '22023';
    end if;

    -- LOCKS: run first, so the task's status read here is the one fail_task sees
    perform 1 from pgflow.runs as r where r.run_id = fail_task_with_delay.run_id for update;

    select t.status into v_before
    from pgflow.step_tasks as t
    where
        t.run_id = fail_task_with_delay.run_id
        and t.step_slug = fail_task_with_delay.step_slug
        and t.task_index = fail_task_with_delay.task_index;

    -- MAIN: the contract's failure, then the handler's delay for a retry this call made
    select * into v_task
    from pgflow.fail_task(
        fail_task_with_delay.run_id, fail_task_with_delay.step_slug,
        fail_task_with_delay.task_index, fail_task_with_delay.error_message
    );

    if v_task.run_id is null then
        return;
    end if;

    if fail_task_with_delay.retry_delay_seconds is not null
        and v_before = 'started'
        and v_task.status = 'queued'
        and v_task.message_id is not null then
        perform pgmq.set_vt(v_task.flow_slug, v_task.message_id, fail_task_with_delay.retry_delay_seconds);
    end if;

    return next v_task;
end;
$$;
