-- pgflow._start_flow(flow_slug, input, run_id): pgflow.start_flow's work (its header says what it
-- does, locks and raises), in a function of its own so that the contract function keeps its
-- attributes while the work gets the task path's planner settings.
-- Called by start_flow only.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path"): a session that first starts runs while the
-- tables are small otherwise keeps sequential scans of runs and step_states (its own statements
-- and the foreign-key checks of its inserts) as they grow; the benchmark's 3,000 start_flow calls
-- from an empty table spent 40% of their server CPU in them.
create or replace function pgflow._start_flow(flow_slug text, input jsonb, run_id uuid)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_run pgflow.runs;
    v_has_root_map boolean;
    v_has_conditions boolean;
    v_step_count int;
    v_started text [];
    v_cascaded boolean := false;
begin
    -- The flow's shape, in one read: root maps (guard below), conditions (scheduling), step count
    select
        coalesce(bool_or(s.step_type = 'map' and s.deps_count = 0), false),
        coalesce(bool_or(s.required_input_pattern is not null or s.forbidden_input_pattern is not null), false),
        count(*)
    into v_has_root_map, v_has_conditions, v_step_count
    from pgflow.steps as s
    where s.flow_slug = _start_flow.flow_slug;

    -- GUARD: a root map step fans out over the input, which must therefore be an array
    if v_has_root_map then
        if _start_flow.input is null then
            raise exception 'Flow % has root map steps but input is NULL', _start_flow.flow_slug;
        end if;
        if jsonb_typeof(_start_flow.input) <> 'array' then
            raise exception 'Flow % has root map steps but input is not an array (got %)',
                _start_flow.flow_slug, jsonb_typeof(_start_flow.input);
        end if;
    end if;

    -- MAIN: the run and its step states
    insert into pgflow.runs (run_id, flow_slug, input, remaining_steps)
    values (
        coalesce(_start_flow.run_id, pgflow._time_ordered_uuid()),
        _start_flow.flow_slug,
        _start_flow.input,
        v_step_count
    )
    returning * into v_run;

    -- Without conditions to evaluate first, a root single step is inserted started (what
    -- start_ready_steps would make of it below; one row version instead of two, and no second
    -- round of foreign-key checks for the update of a row this transaction inserted). Its task,
    -- message and step:<slug>:started follow with the other ready steps', after the cascades.
    -- (Root maps keep start_ready_steps' path: for a big map its plain insert in task order is
    -- the cheaper one.)
    with inserted as (
        insert into pgflow.step_states (
            flow_slug, run_id, step_slug, remaining_deps, initial_tasks, status, started_at, remaining_tasks
        )
        select
            s.flow_slug,
            v_run.run_id,
            s.step_slug,
            s.deps_count,
            t.initial_tasks,
            case when t.starts then 'started' else 'created' end,
            case when t.starts then now() end,
            case when t.starts then t.initial_tasks end
        from pgflow.steps as s
        cross join lateral (
            select
                i.initial_tasks,
                not v_has_conditions and s.deps_count = 0 and s.step_type = 'single' as starts
            from (
                select case
                    -- nested CASE: the planner folds constant arms, the array check must come first
                    when s.step_type = 'map' and s.deps_count = 0 then
                        case when jsonb_typeof(v_run.input) = 'array' then jsonb_array_length(v_run.input) end
                    when s.step_type = 'map' then null
                    else 1
                end as initial_tasks
            ) as i
        ) as t
        where s.flow_slug = v_run.flow_slug
        order by s.step_index
        returning step_states.step_slug, step_states.status
    )

    select coalesce(array_agg(i.step_slug order by i.step_slug) filter (where i.status = 'started'), '{}')
    into v_started
    from inserted as i;

    perform pgflow._emit_events(
        array['run:started'],
        array[jsonb_build_object(
            'event_type', 'run:started',
            'run_id', v_run.run_id,
            'flow_slug', v_run.flow_slug,
            'input', v_run.input,
            'status', v_run.status,
            'remaining_steps', v_run.remaining_steps,
            'started_at', v_run.started_at
        )]
    );

    -- Scheduling: conditions, then steps with nothing to do, then real work. Steps unblocked by
    -- the taskless cascade get their conditions evaluated too before anything starts (pgflow
    -- starts them unevaluated, spec §13 quirk 3); each extra pass completes at least one step.
    -- Each cascade is skipped where it cannot find anything (same result, fewer statements):
    -- conditions when no step of the flow has one, the taskless wave when no step is created,
    -- unblocked and taskless; and maybe_complete_run when the run has steps and neither cascade
    -- ran (no step can have finished yet).
    loop
        if v_has_conditions and not pgflow.cascade_resolve_conditions(v_run.run_id) then
            return query select * from pgflow.runs as r where r.run_id = v_run.run_id;
            return;
        end if;
        exit when not exists (
            select 1
            from pgflow.step_states as ss
            where
                ss.run_id = v_run.run_id
                and ss.status = 'created'
                and ss.remaining_deps = 0
                and ss.initial_tasks = 0
        );
        v_cascaded := true;
        exit when pgflow.cascade_complete_taskless_steps(v_run.run_id) = 0;
    end loop;
    -- start_ready_steps, for the steps that are ready now and for those inserted started
    if cardinality(v_started) = 1 and not v_cascaded and not v_has_root_map then
        -- one step, nothing else can be ready (no root map, no cascade)
        perform pgflow._start_one_step(v_run.run_id, v_started[1]);
    elsif cardinality(v_started) > 0 then
        perform pgflow._start_ready_steps_of_runs(
            array[v_run.run_id], array_fill(v_run.run_id, array[cardinality(v_started)]), v_started
        );
    else
        perform pgflow.start_ready_steps(v_run.run_id);
    end if;
    if v_has_conditions or v_cascaded or v_run.remaining_steps = 0 then
        perform pgflow.maybe_complete_run(v_run.run_id);
    end if;

    return query select * from pgflow.runs as r where r.run_id = v_run.run_id;
end;
$$;
