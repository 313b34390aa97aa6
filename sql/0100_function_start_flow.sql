-- pgflow.start_flow(flow_slug, input, run_id): starts a run of a flow; returns the run row (its
-- status may already be completed, e.g. a flow without steps, or failed by a condition).
-- Creates the run (remaining_steps = number of steps) and one step_state per step
-- (remaining_deps = deps_count; initial_tasks 1 for single steps, the input's length for root
-- maps, NULL for dependent maps until their parent completes), broadcasts run:started, then:
-- cascade_resolve_conditions -> (run failed: stop) -> cascade_complete_taskless_steps (both
-- repeated while the cascade completes steps) -> start_ready_steps -> maybe_complete_run.
-- (When the flow has no conditions its root single steps are inserted started, and
-- pgflow._start_ready_steps_of_runs does start_ready_steps' work and finishes them;
-- pgflow._start_one_step when that is one step and nothing else can be ready.)
-- Without run_id the run gets pgflow._time_ordered_uuid() (random, in time order: the indexes
-- keyed by run_id take new runs where the recent ones are, however long the history).
-- Called by clients and start_flow_with_states. The work is pgflow._start_flow's.
-- Locks the new run row (insert). Raises `Flow <slug> has root map steps but input is NULL`,
-- `Flow <slug> has root map steps but input is not an array (got <jsonb_typeof>)`; unknown flow
-- violates runs_flow_slug_fkey, NULL input on other flows the NOT NULL of runs.input.
create or replace function pgflow.start_flow(flow_slug text, input jsonb, run_id uuid default null)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
begin
    return query select * from pgflow._start_flow(start_flow.flow_slug, start_flow.input, start_flow.run_id);
end;
$$;
