-- pgflow._park_unstartable_messages(p_flow_slug, msg_ids): keeps a worker's read from handing out,
-- again and again, messages whose task is past `queued`. Among the given messages of the flow's
-- queue, those whose task is
--   * finished (status neither `queued` nor `started`: completed, failed, ...): archived; no
--     callback will ever need that message again;
--   * `started` (by another worker, or an earlier attempt): hidden until the task's own deadline,
--     started_at + coalesce(step.opt_timeout, flow.opt_timeout) + 2 s (what start_tasks gave it);
--     when that has passed (a slow or dead worker), until requeue_stalled_tasks would requeue it,
--     started_at + flow.opt_timeout + 30 s; when that too has passed, the vt is left as it is. A
--     visibility is never shortened (vt = greatest(vt, deadline)).
-- Every path that hands such a task out again sets its message's vt itself (fail_task's retry
-- backoff, requeue_stalled_tasks, requeue_dead_worker_tasks), so hiding it delays nothing.
-- Messages of `queued` tasks and of no task are not touched. pgflow's start_tasks ignores these
-- messages, so they come back every read visibility timeout until the stall sweep (read_ct 8 was
-- seen for one killed worker's task); here they are read once more at most per deadline.
-- Called by pgflow._start_tasks (start_tasks, read_and_start_tasks) before it starts anything.
-- Locks: the tasks of those messages (FOR SHARE SKIP LOCKED: a task being completed, failed or
-- requeued right now keeps its message as it is, so a requeue's vt = now is never overwritten),
-- then their queue rows. Raises nothing of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._park_unstartable_messages(p_flow_slug text, msg_ids bigint [])
returns void
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_archive_ids bigint[];
    v_hide_ids bigint[];
    v_hide_until timestamptz[];
begin
    -- LOCKS + MAIN: classify the tasks that are past queued
    select
        array_agg(p.message_id order by p.message_id) filter (where p.status <> 'started'),
        array_agg(p.message_id order by p.message_id) filter (where p.status = 'started' and p.until is not null),
        array_agg(p.until order by p.message_id) filter (where p.status = 'started' and p.until is not null)
    into v_archive_ids, v_hide_ids, v_hide_until
    from (
        select
            l.message_id,
            l.status,
            case
                when l.own_deadline > clock_timestamp() then l.own_deadline
                when l.sweep_deadline > clock_timestamp() then l.sweep_deadline
            end as until
        from (
            select
                st.message_id,
                st.status,
                st.started_at + make_interval(secs => coalesce(s.opt_timeout, f.opt_timeout) + 2) as own_deadline,
                st.started_at + make_interval(secs => f.opt_timeout + 30) as sweep_deadline
            from pgflow.step_tasks as st
            inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
            inner join pgflow.flows as f on f.flow_slug = st.flow_slug
            where
                st.flow_slug = _park_unstartable_messages.p_flow_slug
                and st.message_id = any(_park_unstartable_messages.msg_ids)
                and st.status <> 'queued'
            order by st.run_id, st.step_slug, st.task_index
            for share of st skip locked
        ) as l
    ) as p;

    if v_hide_ids is not null then
        execute format(
            $sql$
            update pgmq.%I as q
            set vt = greatest(q.vt, u.until)
            from unnest($1, $2) as u (msg_id, until)
            where q.msg_id = u.msg_id
            $sql$,
            pgmq.format_table_name(_park_unstartable_messages.p_flow_slug, 'q')
        ) using v_hide_ids, v_hide_until;
    end if;

    if v_archive_ids is not null then
        perform pgmq.archive(_park_unstartable_messages.p_flow_slug, v_archive_ids);
    end if;
end;
$$;
