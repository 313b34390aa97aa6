-- pgflow.start_flow(flow_slug, input, run_id): starts a run of a flow; returns the run row (its
-- status may already be completed, e.g. a flow without steps, or failed by a condition).
-- Creates the run (remaining_steps = number of steps) and one step_state per step
-- (remaining_deps = deps_count; initial_tasks 1 for single steps, the input's length for root
-- maps, NULL for dependent maps until their parent completes), broadcasts run:started, then:
-- cascade_resolve_conditions -> (run failed: stop) -> cascade_complete_taskless_steps (both
-- repeated while the cascade completes steps) -> start_ready_steps -> maybe_complete_run.
-- Without run_id the run gets pgflow._time_ordered_uuid() (random, in time order: the indexes
-- keyed by run_id take new runs where the recent ones are, however long the history).
-- Called by clients and start_flow_with_states.
-- Locks the new run row (insert). Raises `Flow <slug> has root map steps but input is NULL`,
-- `Flow <slug> has root map steps but input is not an array (got <jsonb_typeof>)`; unknown flow
-- violates runs_flow_slug_fkey, NULL input on other flows the NOT NULL of runs.input.
create or replace function pgflow.start_flow(flow_slug text, input jsonb, run_id uuid default null)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
    v_has_conditions boolean;
    v_cascaded boolean := false;
begin
    -- GUARD: a root map step fans out over the input, which must therefore be an array
    if exists (
        select 1
        from pgflow.steps as s
        where s.flow_slug = start_flow.flow_slug and s.step_type = 'map' and s.deps_count = 0
    ) then
        if start_flow.input is null then
            raise exception 'Flow % has root map steps but input is NULL', start_flow.flow_slug;
        end if;
        if jsonb_typeof(start_flow.input) <> 'array' then
            raise exception 'Flow % has root map steps but input is not an array (got %)',
                start_flow.flow_slug, jsonb_typeof(start_flow.input);
        end if;
    end if;

    -- MAIN: the run and its step states
    insert into pgflow.runs (run_id, flow_slug, input, remaining_steps)
    values (
        coalesce(start_flow.run_id, pgflow._time_ordered_uuid()),
        start_flow.flow_slug,
        start_flow.input,
        (select count(*) from pgflow.steps as s where s.flow_slug = start_flow.flow_slug)
    )
    returning * into v_run;

    insert into pgflow.step_states (flow_slug, run_id, step_slug, remaining_deps, initial_tasks)
    select
        s.flow_slug,
        v_run.run_id,
        s.step_slug,
        s.deps_count,
        case
            -- nested CASE: the planner folds constant arms, the array check must come first
            when s.step_type = 'map' and s.deps_count = 0 then
                case when jsonb_typeof(v_run.input) = 'array' then jsonb_array_length(v_run.input) end
            when s.step_type = 'map' then null
            else 1
        end
    from pgflow.steps as s
    where s.flow_slug = v_run.flow_slug
    order by s.step_index;

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
    v_has_conditions := exists (
        select 1
        from pgflow.steps as s
        where
            s.flow_slug = v_run.flow_slug
            and (s.required_input_pattern is not null or s.forbidden_input_pattern is not null)
    );
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
    perform pgflow.start_ready_steps(v_run.run_id);
    if v_has_conditions or v_cascaded or v_run.remaining_steps = 0 then
        perform pgflow.maybe_complete_run(v_run.run_id);
    end if;

    return query select * from pgflow.runs as r where r.run_id = v_run.run_id;
end;
$$;
