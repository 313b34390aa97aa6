-- pgflow.extend_task_timeout(run_id, step_slug, task_index, seconds): a handler that needs longer
-- than its step's timeout says so while it runs (pgflow-py: ctx.extend(seconds)). Beside the
-- contract (run control). For a started task of a started run, its deadline becomes
-- greatest(now() + seconds, its current deadline) (current: the last extension of this attempt,
-- else started_at + coalesce(step.opt_timeout, flow.opt_timeout)); the deadline is recorded in
-- pgflow.task_deadlines for this attempt; the task's message stays hidden until 2 s past the
-- deadline; requeue_stalled_tasks leaves the task alone until 30 s past it (and never sweeps it
-- sooner than it would have without the extension). Returns the new deadline; NULL (and changes
-- nothing) when the task is no longer started or its run no longer started (the worker has lost
-- it: completed elsewhere, requeued, cancelled). Tasks never extended behave as before.
-- Example: select pgflow.extend_task_timeout('<run_id>', 'render', 0, 300);
-- Called by the pgflow-py worker on behalf of a running handler.
-- LOCKS: the task row (FOR UPDATE), then its message. Takes no run or step lock.
-- Raises `seconds must be a positive number of seconds (got <n>)` (22023); `Task <run_id>/<step>/
-- <index> not found` (P0002).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.extend_task_timeout(run_id uuid, step_slug text, task_index int, seconds integer)
returns timestamptz
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_task pgflow.step_tasks;
    v_run_status text;
    v_timeout int;
    v_deadline timestamptz;
begin
    -- GUARD
    if extend_task_timeout.seconds is null or extend_task_timeout.seconds <= 0 then
        raise exception 'seconds must be a positive number of seconds (got %)',
            coalesce(extend_task_timeout.seconds::text, 'NULL')
            using errcode = '22023';
    end if;

    -- LOCKS: the task
    select * into v_task
    from pgflow.step_tasks as t
    where
        t.run_id = extend_task_timeout.run_id
        and t.step_slug = extend_task_timeout.step_slug
        and t.task_index = extend_task_timeout.task_index
    for update;

    if not found then
        raise exception 'Task %/%/% not found',
            extend_task_timeout.run_id, extend_task_timeout.step_slug, extend_task_timeout.task_index
            using errcode = 'P0002';
    end if;

    select r.status into v_run_status from pgflow.runs as r where r.run_id = extend_task_timeout.run_id;
    if v_task.status <> 'started' or v_run_status <> 'started' then
        return null;
    end if;

    -- MAIN: the new deadline (never earlier than the current one)
    select coalesce(s.opt_timeout, f.opt_timeout) into v_timeout
    from pgflow.steps as s
    inner join pgflow.flows as f on f.flow_slug = s.flow_slug
    where s.flow_slug = v_task.flow_slug and s.step_slug = v_task.step_slug;

    select greatest(
        now() + make_interval(secs => extend_task_timeout.seconds),
        coalesce(
            (
                select d.deadline_at
                from pgflow.task_deadlines as d
                where
                    d.run_id = v_task.run_id
                    and d.step_slug = v_task.step_slug
                    and d.task_index = v_task.task_index
                    and d.extended_at >= v_task.started_at
            ),
            v_task.started_at + make_interval(secs => v_timeout)
        )
    ) into v_deadline;

    insert into pgflow.task_deadlines (run_id, step_slug, task_index, extended_at, deadline_at)
    values (v_task.run_id, v_task.step_slug, v_task.task_index, now(), v_deadline)
    on conflict on constraint task_deadlines_pkey
    do update set extended_at = excluded.extended_at, deadline_at = excluded.deadline_at;

    if v_task.message_id is not null then
        perform pgmq.set_vt(
            v_task.flow_slug,
            v_task.message_id,
            ceil(extract(epoch from v_deadline - clock_timestamp()))::int + 2
        );
    end if;

    return v_deadline;
end;
$$;
