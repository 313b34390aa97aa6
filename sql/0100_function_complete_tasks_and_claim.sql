-- pgflow.complete_tasks_and_claim(run_ids, step_slugs, task_indexes, outputs, worker_id, qty): a
-- worker reports several task results (pgflow.complete_tasks_count's effect) and takes, in the same
-- transaction, up to qty of the tasks these results make ready in its own flow (the queue of
-- worker_id in pgflow.workers), steps without start delay, first ones first: they are inserted
-- started by worker_id (attempts_count 1) and their messages sent invisible for the step's
-- timeout + 2 s, which is what reading and starting them would have done, without the read, the
-- second write of each task, or the round trip. A chain's next step thus runs on the worker that
-- finished the previous one, at once. Other new tasks are queued and visible as usual. Not part of
-- pgflow's API (pgmq.read + pgflow.start_tasks + pgflow.complete_task are the contract calls).
-- Returns the claimed tasks as pgflow.read_and_start_tasks returns started ones (its columns; the
-- message fields as the queue holds them, read_ct 0), ordered by msg_id.
-- Called by the pgflow-py worker.
-- Locks and raises as pgflow._complete_tasks (unknown worker_id: nothing is claimed).
-- Planning: random_page_cost = 1.1, as in pgflow._complete_tasks (which says why).
-- Also one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.complete_tasks_and_claim(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb [], worker_id uuid, qty integer
)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int,
    read_ct int,
    enqueued_at timestamptz,
    message_vt timestamptz,
    message jsonb
)
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set random_page_cost = 1.1
as $$
declare
    v_claimed bigint [];
    v_flow text;
    v_ids bigint [];
    v_read_cts int [];
    v_enqueued timestamptz [];
    v_vts timestamptz [];
    v_messages jsonb [];
begin
    select c.claimed into v_claimed
    from pgflow._complete_tasks(
        complete_tasks_and_claim.run_ids, complete_tasks_and_claim.step_slugs,
        complete_tasks_and_claim.task_indexes, complete_tasks_and_claim.outputs,
        complete_tasks_and_claim.worker_id, coalesce(complete_tasks_and_claim.qty, 0)
    ) as c;

    if coalesce(cardinality(v_claimed), 0) = 0 then
        return;
    end if;

    select w.queue_name into v_flow
    from pgflow.workers as w
    where w.worker_id = complete_tasks_and_claim.worker_id;

    -- the messages as sent (the queue's table is the flow's)
    execute format(
        'select array_agg(q.msg_id order by q.msg_id), array_agg(q.read_ct order by q.msg_id), '
        'array_agg(q.enqueued_at order by q.msg_id), '
        'array_agg(q.vt order by q.msg_id), array_agg(q.message order by q.msg_id) '
        'from pgmq.%I as q where q.msg_id = any($1)',
        pgmq.format_table_name(v_flow, 'q')
    ) into v_ids, v_read_cts, v_enqueued, v_vts, v_messages using v_claimed;

    return query
    select
        t.flow_slug,
        t.run_id,
        t.step_slug,
        t.input,
        t.msg_id,
        t.task_index,
        t.flow_input,
        t.attempts_count,
        m.read_ct,
        m.enqueued_at,
        m.vt,
        m.message
    from pgflow._task_records(v_flow, v_claimed) as t
    inner join unnest(v_ids, v_read_cts, v_enqueued, v_vts, v_messages)
        as m (msg_id, read_ct, enqueued_at, vt, message)
        on m.msg_id = t.msg_id
    order by t.msg_id;
end;
$$;
