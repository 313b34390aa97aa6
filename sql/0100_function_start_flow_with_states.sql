-- pgflow.start_flow_with_states(flow_slug, input, run_id): start_flow, then the new run with its
-- step states as returned by get_run_with_states. Used by the TypeScript client (PostgREST RPC).
-- SECURITY DEFINER. plpgsql on purpose: the second call needs a snapshot that sees the first
-- call's writes (a single SQL statement would not).
-- Locks and raises what start_flow does.
create or replace function pgflow.start_flow_with_states(flow_slug text, input jsonb, run_id uuid default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_run_id uuid;
begin
    select r.run_id into v_run_id
    from pgflow.start_flow(
        start_flow_with_states.flow_slug, start_flow_with_states.input, start_flow_with_states.run_id
    ) as r;

    return pgflow.get_run_with_states(v_run_id);
end;
$$;
