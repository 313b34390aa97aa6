-- pgflow.requeue_stalled_tasks(): recovers tasks whose worker died. Called every 15 seconds by
-- the cron job pgflow_requeue_stalled_tasks, or by a worker/operator on plain PostgreSQL.
--
-- A task is stalled when it is `started`, not yet permanently stalled, and
-- started_at < now() - (flow.opt_timeout + 30) s: the flow's timeout only, a step's own
-- opt_timeout is not used (the contract's rule, spec section 6.1). Nothing else is checked: a
-- task left `started` in a failed run or a skipped step is swept like any other.
-- Beside the contract (run control): a task whose handler extended its deadline
-- (pgflow.extend_task_timeout, pgflow.task_deadlines) is not stalled before 30 s past it.
--   * requeued_count < 3: back to `queued` (started_at and last_worker_id NULL, requeued_count+1,
--     last_requeued_at now()), its message made visible now (set_vt_batch, one call per queue),
--     then one pg_notify('pgflow_tasks', <flow_slug>) per flow to wake workers.
--   * otherwise: permanently_stalled_at now(), message archived, status stays `started`.
-- Run and step states are not touched. Returns the number of tasks requeued.
-- SECURITY DEFINER so that the cron job's role does not need rights on pgmq tables.
--
-- Locks: the stalled step_tasks rows (FOR UPDATE SKIP LOCKED: a task being completed right now,
-- or claimed by an overlapping run of this function, is left for the next run). No run or
-- step_state locks, so no lock-order conflict with complete_task/fail_task.
-- Raises nothing of its own.
create or replace function pgflow.requeue_stalled_tasks()
returns int
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_requeued_count int;
    v_requeued_flows text[];
    v_requeued_msg_ids bigint[];
    v_stalled_flows text[];
    v_stalled_msg_ids bigint[];
    v_queue text;
    v_msg_ids bigint[];
begin
    -- LOCKS + MAIN: claim stalled tasks, then requeue or give up on each, in one statement
    with stalled as (
        select t.run_id, t.step_slug, t.task_index, t.requeued_count
        from pgflow.step_tasks as t
        inner join pgflow.flows as f on f.flow_slug = t.flow_slug
        where
            t.status = 'started'
            and t.permanently_stalled_at is null
            and t.started_at < now() - make_interval(secs => f.opt_timeout + 30)
            -- run control: a task whose handler extended its deadline (extend_task_timeout) is
            -- left alone until 30 s past that deadline; tasks never extended have no row here
            and not exists (
                select 1
                from pgflow.task_deadlines as d
                where
                    d.run_id = t.run_id
                    and d.step_slug = t.step_slug
                    and d.task_index = t.task_index
                    and d.extended_at >= t.started_at
                    and d.deadline_at >= now() - interval '30 seconds'
            )
        order by t.run_id, t.step_slug, t.task_index
        for update of t skip locked
    ),

    requeued as (
        update pgflow.step_tasks as t
        set
            status = 'queued',
            started_at = null,
            last_worker_id = null,
            requeued_count = t.requeued_count + 1,
            last_requeued_at = now()
        from stalled as st
        where
            t.run_id = st.run_id
            and t.step_slug = st.step_slug
            and t.task_index = st.task_index
            and st.requeued_count < 3
        returning t.flow_slug, t.message_id
    ),

    given_up as (
        update pgflow.step_tasks as t
        set permanently_stalled_at = now()
        from stalled as st
        where
            t.run_id = st.run_id
            and t.step_slug = st.step_slug
            and t.task_index = st.task_index
            and st.requeued_count >= 3
        returning t.flow_slug, t.message_id
    )

    select
        (select count(*) from requeued),
        (select array_agg(rq.flow_slug) from requeued as rq where rq.message_id is not null),
        (select array_agg(rq.message_id) from requeued as rq where rq.message_id is not null),
        (select array_agg(gu.flow_slug) from given_up as gu where gu.message_id is not null),
        (select array_agg(gu.message_id) from given_up as gu where gu.message_id is not null)
    into v_requeued_count, v_requeued_flows, v_requeued_msg_ids, v_stalled_flows, v_stalled_msg_ids;

    -- messages: one call per queue, not per task
    for v_queue, v_msg_ids in
        select u.flow_slug, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_requeued_flows, v_requeued_msg_ids) as u (flow_slug, msg_id)
        group by u.flow_slug
        order by u.flow_slug
    loop
        perform pgflow.set_vt_batch(v_queue, v_msg_ids, array_fill(0, array[cardinality(v_msg_ids)]));
        perform pg_notify('pgflow_tasks', v_queue);
    end loop;

    for v_queue, v_msg_ids in
        select u.flow_slug, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_stalled_flows, v_stalled_msg_ids) as u (flow_slug, msg_id)
        group by u.flow_slug
        order by u.flow_slug
    loop
        perform pgmq.archive(v_queue, v_msg_ids);
    end loop;

    return v_requeued_count;
end;
$$;
