-- pgflow_testing._start_next(flow_slug, step_slug, run_id): starts the next queued task of a flow,
-- as a worker would (pgflow.start_tasks), and returns it; a row of NULLs when there is none.
-- "Next" is the task whose queue message would be read first (earliest vt, then msg_id), whether
-- or not it is visible yet: start delays and retry back-off are skipped, which is what a test wants.
-- Only tasks whose run and step are started qualify; step_slug and run_id narrow the choice.
-- The task is started by the worker pgflow_testing registers for the flow's queue (a fixed id per
-- flow, function_name 'pgflow_testing'), so it shows in pgflow.workers like any other.
-- Called by complete_next, fail_next and run_to_completion.
-- Locks the chosen step_tasks row (for update skip locked), then what pgflow.start_tasks locks.
-- Raises when the flow does not exist.
create or replace function pgflow_testing._start_next(
    flow_slug text,
    step_slug text default null,
    run_id uuid default null
)
returns pgflow.step_task_record
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_worker_id uuid := md5('pgflow_testing:' || _start_next.flow_slug)::uuid;
    v_msg_id bigint;
    v_task pgflow.step_task_record;
begin
    -- GUARD: a flow that exists (its queue table is named after it)
    if not exists (select 1 from pgflow.flows as f where f.flow_slug = _start_next.flow_slug) then
        raise exception 'pgflow_testing: flow "%" does not exist', _start_next.flow_slug
            using errcode = 'P0002';
    end if;

    insert into pgflow.workers (worker_id, queue_name, function_name)
    values (v_worker_id, _start_next.flow_slug, 'pgflow_testing')
    on conflict (worker_id) do update set last_heartbeat_at = now(), stopped_at = null;

    -- LOCKS: the chosen task only
    execute format(
        'select st.message_id
         from pgflow.step_tasks as st
         join pgmq.%I as q on q.msg_id = st.message_id
         join pgflow.runs as r on r.run_id = st.run_id
         join pgflow.step_states as ss on ss.run_id = st.run_id and ss.step_slug = st.step_slug
         where st.flow_slug = $1 and st.status = ''queued'' and r.status = ''started''
             and ss.status = ''started'' and ($2::text is null or st.step_slug = $2)
             and ($3::uuid is null or st.run_id = $3)
         order by q.vt, q.msg_id
         limit 1
         for update of st skip locked',
        pgmq.format_table_name(_start_next.flow_slug, 'q')
    ) into v_msg_id using _start_next.flow_slug, _start_next.step_slug, _start_next.run_id;

    if v_msg_id is null then
        return v_task;
    end if;

    -- MAIN: start it as a worker would
    select t.flow_slug, t.run_id, t.step_slug, t.input, t.msg_id, t.task_index, t.flow_input
    into v_task
    from pgflow.start_tasks(_start_next.flow_slug, array[v_msg_id], v_worker_id) as t;
    return v_task;
end;
$$;
