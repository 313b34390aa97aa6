-- pgflow.start_ready_steps(run_id): starts every step of a started run that is ready, i.e.
-- status created, remaining_deps = 0 and initial_tasks > 0 (conditions are not evaluated here).
-- For each such step: status started, started_at, remaining_tasks = initial_tasks; one
-- pgflow._send_batch(flow_slug, msgs, coalesce(opt_start_delay, 0)) (pgmq.send_batch's rows, in
-- one statement) with one message per task ({"flow_slug","run_id","step_slug","task_index"},
-- task_index ascending); step_tasks rows inserted set-based, message ids paired with task indexes
-- by position; step:<slug>:started broadcast.
-- Set-based: one statement whatever the number of steps and tasks (10,000-element maps included).
-- Wakes workers with pg_notify('pgflow_tasks', flow_slug) when messages are visible at once.
-- Called by start_flow, complete_task, fail_task.
-- Locks the ready step_states rows (ordered by step_slug); callers already hold the run row.
-- Raises nothing of its own. A failed or completed run is left alone.
create or replace function pgflow.start_ready_steps(run_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow_slug text;
    v_visible_now int;
    v_inserted int;
begin
    -- GUARD: only started runs schedule work
    select r.flow_slug into v_flow_slug
    from pgflow.runs as r
    where r.run_id = start_ready_steps.run_id and r.status = 'started';

    if v_flow_slug is null then
        return;
    end if;

    -- Nothing ready (the common case after a task that does not finish its step): skip the
    -- statement below, whose plan is large, with one probe of idx_step_states_ready
    if not exists (
        select 1
        from pgflow.step_states as ss
        where
            ss.run_id = start_ready_steps.run_id
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and ss.initial_tasks > 0
    ) then
        return;
    end if;

    -- MAIN: one statement: flip the steps, broadcast, send one batch per step, insert the tasks
    with ready as (
        select ss.run_id, ss.step_slug
        from pgflow.step_states as ss
        where
            ss.run_id = start_ready_steps.run_id
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and ss.initial_tasks is not null
            and ss.initial_tasks > 0
        order by ss.step_slug
        for update
    ),

    started as (
        update pgflow.step_states as ss
        set
            status = 'started',
            started_at = now(),
            remaining_tasks = ss.initial_tasks
        from ready as rd
        where ss.run_id = rd.run_id and ss.step_slug = rd.step_slug
        returning
            ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at,
            ss.initial_tasks, ss.remaining_tasks, ss.remaining_deps
    ),

    started_steps as (
        select st.*, s.step_index, coalesce(s.opt_start_delay, 0) as start_delay
        from started as st
        inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
    ),

    events as (
        -- one call for all the started steps' broadcasts, in step_index order
        select
            pgflow._emit_events(
                array_agg('step:' || ss.step_slug || ':started' order by ss.step_index),
                array_agg(
                    jsonb_build_object(
                        'event_type', 'step:started',
                        'run_id', ss.run_id,
                        'step_slug', ss.step_slug,
                        'status', ss.status,
                        'started_at', ss.started_at,
                        'remaining_tasks', ss.remaining_tasks,
                        'remaining_deps', ss.remaining_deps
                    )
                    order by ss.step_index
                )
            ) as emitted
        from started_steps as ss
        having count(*) > 0
    ),

    sent as (
        select
            ss.flow_slug,
            ss.run_id,
            ss.step_slug,
            m.msg_id,
            (row_number() over (partition by ss.step_slug order by m.msg_id) - 1)::int as task_index
        from started_steps as ss
        cross join lateral pgflow._send_batch(
            ss.flow_slug,
            array(
                select
                    jsonb_build_object(
                        'flow_slug', ss.flow_slug,
                        'run_id', ss.run_id,
                        'step_slug', ss.step_slug,
                        'task_index', i.task_index
                    )
                from generate_series(0, ss.initial_tasks - 1) as i (task_index)
                order by i.task_index
            ),
            ss.start_delay::integer
        ) as m (msg_id)
    ),

    inserted as (
        insert into pgflow.step_tasks (flow_slug, run_id, step_slug, task_index, message_id)
        select se.flow_slug, se.run_id, se.step_slug, se.task_index, se.msg_id
        from sent as se
        returning 1
    )

    select (select count(*) from started_steps as ss where ss.start_delay = 0)::int, i.n::int
    into v_visible_now, v_inserted
    from (select count(*) as n from events) as e
    cross join (select count(*) as n from inserted) as i;

    -- Statistics for the workers' plans when a big map lands on a small table
    -- (its threshold checked here first: no call, no catalog read for the common small start)
    if v_inserted >= 1000 then
        perform pgflow._refresh_task_statistics(v_inserted);
    end if;

    -- Worker wake-up: one notification per call, only for messages visible now
    if v_visible_now > 0 then
        perform pg_notify('pgflow_tasks', v_flow_slug);
    end if;
end;
$$;
