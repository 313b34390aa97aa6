-- pgflow._start_tasks(p_flow_slug, msg_ids, worker_id, set_vt): pgflow.start_tasks' work, with the
-- visibility step optional. For the messages a worker read from the flow's queue, starts the tasks
-- that may run and returns what their handlers need (pgflow.step_task_record's columns plus the
-- task's attempts_count after starting, one row per started task, ordered by msg_id).
-- Eligible: step_tasks of this flow whose message_id is in msg_ids, status queued, run started and
-- step started. Ids of queued tasks that are not eligible, and of no task, are ignored silently.
-- Ids of tasks past queued go to pgflow._park_unstartable_messages: a started task's message is
-- hidden until the task's deadline, a finished task's archived (pgflow ignores them, so they come
-- back every visibility timeout).
-- Started tasks: attempts_count + 1, started_at now(), last_worker_id = worker_id (FK to
-- pgflow.workers: register the worker first). With set_vt their messages become invisible for
-- coalesce(step.opt_timeout, flow.opt_timeout) + 2 seconds (pgflow's intent; its own CTE for this
-- never ran, spec §13 quirk 1) via set_vt_batch, so a slow handler is not re-read mid-flight;
-- pgflow.read_and_start_tasks passes false when its read already gave them that visibility.
-- Inputs (§6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- Called by pgflow.start_tasks and pgflow.read_and_start_tasks.
-- Locks the eligible step_tasks rows (ordered by run, step, task index; SKIP LOCKED, see LOCKS)
-- and their queue messages.
-- Raises nothing of its own (unknown worker_id violates step_tasks_last_worker_id_fkey).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._start_tasks(p_flow_slug text, msg_ids bigint [], worker_id uuid, set_vt boolean)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int
)
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_msg_ids bigint[];
    v_vt_offsets integer[];
begin
    -- LOCKS: the eligible tasks, in key order, skipping those another transaction holds: a
    -- caller may hold the messages it read (pgflow.read_and_start_tasks, or pgmq.read in the
    -- same transaction) while a writer that locked the task first waits for its message
    -- (cancel_run archiving it): waiting here would close a deadlock. A task skipped is one
    -- that is being started, requeued, resumed or cancelled by that other transaction; its
    -- message is left to it (pgmq.read_and_start_tasks gives it the caller's vt).
    select coalesce(array_agg(e.message_id), '{}') into v_msg_ids
    from (
        select st.message_id
        from pgflow.step_tasks as st
        inner join pgflow.runs as r on r.run_id = st.run_id
        inner join pgflow.step_states as ss on ss.run_id = st.run_id and ss.step_slug = st.step_slug
        where
            st.flow_slug = _start_tasks.p_flow_slug
            and st.message_id = any(_start_tasks.msg_ids)
            and st.status = 'queued'
            and r.status = 'started'
            and ss.status = 'started'
        order by st.run_id, st.step_slug, st.task_index
        for update of st skip locked
    ) as e;

    -- Messages of tasks past queued: hidden until the task's deadline, or archived when finished
    -- (only looked for when some id is not eligible: not on the common path)
    if cardinality(v_msg_ids) < cardinality(_start_tasks.msg_ids) then
        perform pgflow._park_unstartable_messages(_start_tasks.p_flow_slug, _start_tasks.msg_ids);
    end if;

    -- MAIN: start them (compare-and-set on status queued). Addressed by message id rather than by
    -- a join back to the locked rows: one index probe per id whatever the table statistics say.
    with started as (
        update pgflow.step_tasks as st
        set
            status = 'started',
            attempts_count = st.attempts_count + 1,
            started_at = now(),
            last_worker_id = _start_tasks.worker_id
        where
            st.flow_slug = _start_tasks.p_flow_slug
            and st.message_id = any(v_msg_ids)
            and st.status = 'queued'
        returning st.message_id, st.step_slug
    )

    select
        coalesce(array_agg(sd.message_id order by sd.message_id), '{}'),
        coalesce(array_agg(coalesce(s.opt_timeout, f.opt_timeout) + 2 order by sd.message_id), '{}')
    into v_msg_ids, v_vt_offsets
    from started as sd
    inner join pgflow.steps as s on s.flow_slug = _start_tasks.p_flow_slug and s.step_slug = sd.step_slug
    inner join pgflow.flows as f on f.flow_slug = _start_tasks.p_flow_slug;

    if cardinality(v_msg_ids) = 0 then
        return;
    end if;

    -- Visibility: the handler owns the message for the task timeout plus a 2 s margin
    if _start_tasks.set_vt then
        perform 1 from pgflow.set_vt_batch(_start_tasks.p_flow_slug, v_msg_ids, v_vt_offsets) as v;
    end if;

    return query select * from pgflow._task_records(_start_tasks.p_flow_slug, v_msg_ids);
end;
$$;
