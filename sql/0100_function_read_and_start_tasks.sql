-- pgflow.read_and_start_tasks(queue_name, worker_id, vt, qty): both phases of polling in one call
-- (one round trip, one transaction): pgmq.read of up to qty visible messages of the flow's queue,
-- then pgflow.start_tasks' work on them (pgflow._start_tasks). Not part of pgflow's API: pgflow-py's
-- worker uses it; pgmq.read / read_with_poll followed by pgflow.start_tasks stay the contract and
-- have the same effect in two calls.
-- Returns one row per started task, ordered by msg_id: pgflow.step_task_record's columns, the
-- task's attempts_count after starting, and its message's read_ct, enqueued_at, vt (as the read set
-- it) and body.
-- Visibility: when every step of the flow has the same timeout (coalesce(step.opt_timeout,
-- flow.opt_timeout)), the read itself makes the messages invisible for that timeout + 2 s, which
-- is what start_tasks' set_vt_batch would set a moment later, so the queue is updated once. With
-- different timeouts the read uses vt and set_vt_batch follows, as in start_tasks. Messages read
-- but not started end as after pgmq.read + start_tasks: a queued task's (run or step not started)
-- with vt seconds of invisibility; a started task's hidden until its deadline, a finished task's
-- archived (pgflow._park_unstartable_messages; a started task past both its deadlines keeps the
-- read's visibility).
-- Called by the pgflow-py worker.
-- Locks the messages read (pgmq.read: FOR UPDATE SKIP LOCKED), then as pgflow.start_tasks.
-- Raises what pgmq.read raises for an unknown queue; what start_tasks raises (unknown worker_id
-- violates step_tasks_last_worker_id_fkey).
-- Planning: random_page_cost = 1.1 for this call and what it calls. Its statements reach a few
-- rows by key, rows just written and in shared buffers; with the default 4.0 the planner
-- preferred scanning a whole table of a thousand runs (or tasks) to ten index probes (seen with
-- auto_explain in benchmark scenario 2, 1,000 runs: sequential scans of runs and step_tasks in
-- up to eight statements per batch). Tables large enough, or small enough, plan the same either way.
-- Also one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.read_and_start_tasks(queue_name text, worker_id uuid, vt integer, qty integer)
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
    v_final_vt int;
    v_ids bigint [];
    v_read_cts int [];
    v_enqueued timestamptz [];
    v_vts timestamptz [];
    v_messages jsonb [];
    v_started int;
    v_ignored bigint [];
begin
    -- MAIN: the read (visibility: the tasks' timeout + 2 s when it is one for the whole flow)
    select
        coalesce(array_agg(m.msg_id order by m.msg_id), '{}'),
        array_agg(m.read_ct order by m.msg_id),
        array_agg(m.enqueued_at order by m.msg_id),
        array_agg(m.vt order by m.msg_id),
        array_agg(m.message order by m.msg_id),
        max(o.final_vt)
    into v_ids, v_read_cts, v_enqueued, v_vts, v_messages, v_final_vt
    from (
        select case when min(t.timeout) = max(t.timeout) then max(t.timeout) + 2 end as final_vt
        from (
            select coalesce(s.opt_timeout, f.opt_timeout) as timeout
            from pgflow.flows as f
            inner join pgflow.steps as s on s.flow_slug = f.flow_slug
            where f.flow_slug = read_and_start_tasks.queue_name
        ) as t
    ) as o
    cross join lateral pgmq.read(
        read_and_start_tasks.queue_name,
        coalesce(o.final_vt, read_and_start_tasks.vt),
        read_and_start_tasks.qty
    ) as m;

    if cardinality(v_ids) = 0 then
        return;
    end if;

    -- then start_tasks' work (its set_vt_batch only when the read could not set the visibility)
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
    from pgflow._start_tasks(read_and_start_tasks.queue_name, v_ids, read_and_start_tasks.worker_id, v_final_vt is null)
        as t
    inner join unnest(v_ids, v_read_cts, v_enqueued, v_vts, v_messages) as m (msg_id, read_ct, enqueued_at, vt, message)
        on m.msg_id = t.msg_id
    order by t.msg_id;
    get diagnostics v_started = row_count;

    -- Messages read but not started keep the caller's visibility timeout, as with pgmq.read
    if v_final_vt is not null and v_started < cardinality(v_ids) then
        v_ignored := array(
            select i.id
            from unnest(v_ids) as i (id)
            where not exists (
                select 1
                from pgflow.step_tasks as st
                where
                    st.flow_slug = read_and_start_tasks.queue_name
                    and st.message_id = i.id
                    and st.status <> 'queued'
            )
        );
        perform 1
        from pgflow.set_vt_batch(
            read_and_start_tasks.queue_name,
            v_ignored,
            array_fill(read_and_start_tasks.vt, array[cardinality(v_ignored)])
        ) as v;
    end if;
end;
$$;
