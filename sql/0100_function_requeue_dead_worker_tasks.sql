-- pgflow.requeue_dead_worker_tasks(heartbeat_timeout, function_name): recovers the tasks of workers
-- that died as soon as their heartbeat says so, instead of after pgflow.requeue_stalled_tasks'
-- flow timeout + 30 s. Not part of pgflow's API: beside requeue_stalled_tasks, left as it is.
-- Called by maintenance callers (the pgflow-py worker's maintenance loop and `pgflow maintain`, in
-- the second part of issue 21) and by the pg_cron job of pgflow.setup_recovery_cron(heartbeat_timeout
-- => ...).
--
-- A worker is dead when its pgflow.workers row has stopped_at NULL (it did not stop cleanly:
-- pgflow.mark_worker_stopped was not called), last_heartbeat_at older than clock_timestamp() -
-- heartbeat_timeout and, when function_name is given, that function_name (so that workers sweep
-- only for workers of their own kind in a database shared with others). deprecated_at is not
-- looked at: a deprecated worker that still heartbeats is draining and alive; one that stopped
-- heartbeating without stopping is dead like any other. A stopped worker is never dead here:
-- pgflow's edge worker marks itself stopped and then finishes its in-flight tasks; what it
-- abandons is left to requeue_stalled_tasks.
-- Its tasks: `started`, not permanently stalled, last_worker_id = that worker, in a run and a step
-- that are both `started` (a task left `started` in a failed run or a skipped step holds nothing).
-- Each is handled as requeue_stalled_tasks handles a stalled task, against the same limit:
--   * requeued_count < 3: back to `queued` (started_at and last_worker_id NULL, requeued_count+1,
--     last_requeued_at now()), its message visible now (set_vt_batch, one call per queue) and one
--     pg_notify('pgflow_tasks', <flow_slug>) per flow to wake idle workers;
--   * otherwise: permanently_stalled_at now(), its message archived, status stays `started`;
--     pgflow.fail_stalled_tasks then fails it as a failure of its step.
-- Event: one `worker:dead` per dead worker that had tasks, NOTIFY on channel `pgflow` only (no run
-- to address a Realtime topic), payload {"event_type": "worker:dead", "worker_id", "queue_name",
-- "function_name", "last_heartbeat_at", "requeued_tasks": <n>, "stalled_tasks": <n>}.
-- Returns one row per task it handled: flow_slug, run_id, step_slug, task_index, worker_id,
-- last_heartbeat_at (of that worker), requeued_count (after), outcome ('requeued' or
-- 'permanently_stalled'), ordered by worker, run, step, task index: enough for a log line.
--
-- The threshold must exceed the longest gap between two heartbeats of a live worker. pgflow's
-- TypeScript edge worker heartbeats only between batches, so a handler of it running longer than
-- the threshold would be requeued while it runs (and executed twice). That is why no cron job
-- calls this by default, and why function_name exists.
--
-- Locks: in one statement, the dead workers' rows (FOR SHARE SKIP LOCKED: a heartbeat committing
-- meanwhile is seen on recheck, one in progress means the worker is alive) and their tasks (FOR
-- UPDATE SKIP LOCKED: a task being completed right now is left alone), tasks in key order. No run or
-- step_state lock, as requeue_stalled_tasks. Not SECURITY DEFINER (unlike it): its callers, workers
-- and the job owner, have the rights on pgmq tables it uses.
-- Raises `heartbeat_timeout must be a positive interval, got <value>`.
create or replace function pgflow.requeue_dead_worker_tasks(
    heartbeat_timeout interval default '15 seconds', function_name text default null
)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    task_index int,
    worker_id uuid,
    last_heartbeat_at timestamptz,
    requeued_count int,
    outcome text
)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_cutoff timestamptz;
    v_flows text[];
    v_run_ids uuid[];
    v_step_slugs text[];
    v_task_indexes int[];
    v_msg_ids bigint[];
    v_worker_ids uuid[];
    v_heartbeats timestamptz[];
    v_requeued_counts int[];
    v_outcomes text[];
    v_queue text;
    v_outcome text;
    v_ids bigint[];
begin
    -- GUARD
    if requeue_dead_worker_tasks.heartbeat_timeout is null
        or requeue_dead_worker_tasks.heartbeat_timeout <= interval '0' then
        raise exception 'heartbeat_timeout must be a positive interval, got %',
            coalesce(requeue_dead_worker_tasks.heartbeat_timeout::text, 'NULL');
    end if;
    -- heartbeats are written with clock_timestamp(), so they are judged by it
    v_cutoff := clock_timestamp() - requeue_dead_worker_tasks.heartbeat_timeout;

    -- LOCKS + MAIN: claim the dead workers' tasks, then requeue or give up on each, in one statement
    with claimed as (
        select t.run_id, t.step_slug, t.task_index, t.requeued_count, w.worker_id, w.last_heartbeat_at
        from pgflow.step_tasks as t
        inner join pgflow.workers as w on w.worker_id = t.last_worker_id
        inner join pgflow.runs as r on r.run_id = t.run_id
        inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
        where
            t.status = 'started'
            and t.permanently_stalled_at is null
            and w.stopped_at is null
            and w.last_heartbeat_at < v_cutoff
            and (requeue_dead_worker_tasks.function_name is null or w.function_name = requeue_dead_worker_tasks.function_name)
            and r.status = 'started'
            and ss.status = 'started'
        order by t.run_id, t.step_slug, t.task_index
        for update of t skip locked
        for share of w skip locked
    ),

    handled as (
        update pgflow.step_tasks as t
        set
            status = case when c.requeued_count < 3 then 'queued' else t.status end,
            started_at = case when c.requeued_count < 3 then null else t.started_at end,
            last_worker_id = case when c.requeued_count < 3 then null else t.last_worker_id end,
            requeued_count = case when c.requeued_count < 3 then t.requeued_count + 1 else t.requeued_count end,
            last_requeued_at = case when c.requeued_count < 3 then now() else t.last_requeued_at end,
            permanently_stalled_at = case when c.requeued_count < 3 then null else now() end
        from claimed as c
        where
            t.run_id = c.run_id
            and t.step_slug = c.step_slug
            and t.task_index = c.task_index
        returning
            t.flow_slug, t.run_id, t.step_slug, t.task_index, t.message_id, c.worker_id, c.last_heartbeat_at,
            t.requeued_count,
            case when c.requeued_count < 3 then 'requeued' else 'permanently_stalled' end as outcome
    )

    select
        array_agg(h.flow_slug order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.run_id order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.step_slug order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.task_index order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.message_id order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.worker_id order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.last_heartbeat_at order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.requeued_count order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.outcome order by h.worker_id, h.run_id, h.step_slug, h.task_index)
    into
        v_flows, v_run_ids, v_step_slugs, v_task_indexes, v_msg_ids, v_worker_ids, v_heartbeats,
        v_requeued_counts, v_outcomes
    from handled as h;

    if v_run_ids is null then
        return;
    end if;

    -- messages: visible again (requeued) or archived (given up), one call per queue and outcome
    for v_queue, v_outcome, v_ids in
        select u.flow_slug, u.outcome, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_flows, v_msg_ids, v_outcomes) as u (flow_slug, msg_id, outcome)
        where u.msg_id is not null
        group by u.flow_slug, u.outcome
        order by u.flow_slug, u.outcome
    loop
        if v_outcome = 'requeued' then
            perform pgflow.set_vt_batch(v_queue, v_ids, array_fill(0, array[cardinality(v_ids)]));
            perform pg_notify('pgflow_tasks', v_queue);
        else
            perform pgmq.archive(v_queue, v_ids);
        end if;
    end loop;

    -- one worker:dead event per dead worker, in worker order
    perform pgflow._emit_events(
        array_agg('worker:dead'::text order by e.worker_id),
        array_agg(e.payload order by e.worker_id)
    )
    from (
        select
            u.worker_id,
            jsonb_build_object(
                'event_type', 'worker:dead',
                'worker_id', u.worker_id,
                'queue_name', w.queue_name,
                'function_name', w.function_name,
                'last_heartbeat_at', u.last_heartbeat_at,
                'requeued_tasks', count(*) filter (where u.outcome = 'requeued'),
                'stalled_tasks', count(*) filter (where u.outcome = 'permanently_stalled')
            ) as payload
        from unnest(v_worker_ids, v_heartbeats, v_outcomes) as u (worker_id, last_heartbeat_at, outcome)
        inner join pgflow.workers as w on w.worker_id = u.worker_id
        group by u.worker_id, u.last_heartbeat_at, w.queue_name, w.function_name
    ) as e;

    return query
    select *
    from unnest(
        v_flows, v_run_ids, v_step_slugs, v_task_indexes, v_worker_ids, v_heartbeats, v_requeued_counts, v_outcomes
    );
end;
$$;
