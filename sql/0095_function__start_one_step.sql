-- pgflow._start_one_step(run_id, step_slug): finishes starting one step already flipped to
-- started (status, started_at, remaining_tasks written by the caller in the update that made it
-- ready, or inserted so by start_flow): one message per task ({"flow_slug","run_id","step_slug",
-- "task_index"}, task_index ascending) sent with the step's start delay, its step_tasks rows
-- (queued, paired with the messages by position), step:<slug>:started, and
-- pg_notify('pgflow_tasks', flow_slug) when the messages are visible at once. The same rows and
-- events as _start_ready_steps_of_runs for that one step, in four plain statements with cached
-- plans instead of its one large statement (whose executor start-up costs more than the work
-- for one step: a chain's complete_task and a single-step start_flow measured 10-20% faster).
-- Called by start_flow and complete_task when they start exactly one step.
-- Locks nothing more than the rows it inserts (the caller holds the run and the step state).
-- Raises nothing of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._start_one_step(run_id uuid, step_slug text)
returns void
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_state record;
    v_msg_ids bigint [];
begin
    select
        ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at, ss.initial_tasks, ss.remaining_tasks,
        ss.remaining_deps, coalesce(s.opt_start_delay, 0) as start_delay
    into v_state
    from pgflow.step_states as ss
    inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
    where ss.run_id = _start_one_step.run_id and ss.step_slug = _start_one_step.step_slug;

    perform pgflow._emit_events(
        array['step:' || v_state.step_slug || ':started'],
        array[jsonb_build_object(
            'event_type', 'step:started',
            'run_id', v_state.run_id,
            'step_slug', v_state.step_slug,
            'status', v_state.status,
            'started_at', v_state.started_at,
            'remaining_tasks', v_state.remaining_tasks,
            'remaining_deps', v_state.remaining_deps
        )]
    );

    select array_agg(m.msg_id) into v_msg_ids
    from pgflow._send_batch(
        v_state.flow_slug,
        array(
            select jsonb_build_object(
                'flow_slug', v_state.flow_slug,
                'run_id', v_state.run_id,
                'step_slug', v_state.step_slug,
                'task_index', i.task_index
            )
            from generate_series(0, v_state.initial_tasks - 1) as i (task_index)
            order by i.task_index
        ),
        v_state.start_delay
    ) as m (msg_id);

    insert into pgflow.step_tasks (flow_slug, run_id, step_slug, task_index, message_id)
    select v_state.flow_slug, v_state.run_id, v_state.step_slug, (m.ord - 1)::int, m.msg_id
    from unnest(v_msg_ids) with ordinality as m (msg_id, ord)
    order by m.ord;

    if v_state.initial_tasks >= 1000 then
        perform pgflow._refresh_task_statistics(v_state.initial_tasks);
    end if;

    if v_state.start_delay = 0 then
        perform pg_notify('pgflow_tasks', v_state.flow_slug);
    end if;
end;
$$;
