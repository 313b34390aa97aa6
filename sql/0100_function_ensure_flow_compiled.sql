-- pgflow.ensure_flow_compiled(flow_slug, shape, allow_data_loss): makes sure the stored flow
-- matches the worker's flow shape (see _get_flow_shape). Called by every flow worker at start.
-- Returns {"status": ..., "differences": [<messages of _compare_flow_shapes>]}:
--   * compiled   - the flow did not exist; it was created from the shape;
--   * verified   - it exists and matches;
--   * recompiled - it differed and is_local() or allow_data_loss: the flow and ALL its runs
--                  were deleted (delete_flow_and_data) and it was created again from the shape;
--   * mismatch   - it differed, nothing was changed (the worker must refuse to start).
-- Locks: pg_advisory_xact_lock(1, hashtext(flow_slug)) first, so that workers starting at once
-- compile a new flow exactly once (the others wait, then see it and verify). Must stay VOLATILE:
-- each statement after the lock then takes a fresh snapshot (READ COMMITTED) that includes the
-- flow committed by the lock's previous holder.
-- Raises what create_flow/add_step raise for an invalid shape.
create or replace function pgflow.ensure_flow_compiled(
    flow_slug text,
    shape jsonb,
    allow_data_loss boolean default false
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_differences text[];
begin
    -- LOCKS
    perform pg_catalog.pg_advisory_xact_lock(1, pg_catalog.hashtext(ensure_flow_compiled.flow_slug));

    if not exists (select 1 from pgflow.flows as f where f.flow_slug = ensure_flow_compiled.flow_slug) then
        perform pgflow._create_flow_from_shape(ensure_flow_compiled.flow_slug, ensure_flow_compiled.shape);
        return jsonb_build_object('status', 'compiled', 'differences', '[]'::jsonb);
    end if;

    v_differences := pgflow._compare_flow_shapes(
        ensure_flow_compiled.shape, pgflow._get_flow_shape(ensure_flow_compiled.flow_slug)
    );

    if cardinality(v_differences) = 0 then
        return jsonb_build_object('status', 'verified', 'differences', '[]'::jsonb);
    end if;

    if pgflow.is_local() or coalesce(ensure_flow_compiled.allow_data_loss, false) then
        perform pgflow.delete_flow_and_data(ensure_flow_compiled.flow_slug);
        perform pgflow._create_flow_from_shape(ensure_flow_compiled.flow_slug, ensure_flow_compiled.shape);
        return jsonb_build_object('status', 'recompiled', 'differences', to_jsonb(v_differences));
    end if;

    return jsonb_build_object('status', 'mismatch', 'differences', to_jsonb(v_differences));
end;
$$;
