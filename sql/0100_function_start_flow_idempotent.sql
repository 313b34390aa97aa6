-- pgflow.start_flow_idempotent(flow_slug, input, idempotency_key): pgflow.start_flow, at most once
-- per (flow, key). Beside the contract (run control). The first call starts a run (start_flow)
-- and records the key (pgflow.run_idempotency_keys); every later call with the same flow and key
-- returns that run as it is now and starts nothing, also when the calls race from many
-- connections (the key is claimed by its primary key before the run starts: a racing call waits
-- for the first one's transaction, then returns its run; if that transaction rolled back, the
-- racing call starts the run). A key lives as long as its run (pgflow.prune_runs deletes both).
-- Example: select run_id from pgflow.start_flow_idempotent('greet', '{"first": "Ada"}', 'order-42');
-- Called by clients (pgflow start --idempotency-key K).
-- LOCKS: the key's row (insert, or wait on a concurrent insert of the same key), then as
-- start_flow.
-- Raises `idempotency_key must be a non-empty text` (22023); `Idempotency key <key> of flow <slug>
-- was used with a different input (run <run_id>)` (22023) when the key's run has another input;
-- `... names no run (pruned meanwhile?): call again` (40001) in the moment a prune deletes the key;
-- what start_flow raises (then the key is not recorded).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.start_flow_idempotent(flow_slug text, input jsonb, idempotency_key text)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_run_id uuid := pgflow._time_ordered_uuid();
    v_claimed uuid;
    v_run pgflow.runs;
begin
    -- GUARD
    if start_flow_idempotent.idempotency_key is null or start_flow_idempotent.idempotency_key = '' then
        raise exception 'idempotency_key must be a non-empty text' using errcode = '22023';
    end if;

    -- LOCKS: claim the key (a concurrent claim of the same key waits here for the other's end)
    insert into pgflow.run_idempotency_keys (flow_slug, idempotency_key, run_id)
    values (start_flow_idempotent.flow_slug, start_flow_idempotent.idempotency_key, v_run_id)
    on conflict on constraint run_idempotency_keys_pkey do nothing
    returning run_idempotency_keys.run_id into v_claimed;

    -- MAIN: the first call starts the run under the run_id it claimed
    if v_claimed is not null then
        return query
        select * from pgflow.start_flow(start_flow_idempotent.flow_slug, start_flow_idempotent.input, v_claimed);
        return;
    end if;

    -- a later call: the key's run, which must have been started with the same input
    select r.* into v_run
    from pgflow.run_idempotency_keys as k
    inner join pgflow.runs as r on r.run_id = k.run_id
    where k.flow_slug = start_flow_idempotent.flow_slug and k.idempotency_key = start_flow_idempotent.idempotency_key;

    if v_run.run_id is null then
        raise exception 'Idempotency key % of flow % names no run (pruned meanwhile?): call again',
            start_flow_idempotent.idempotency_key, start_flow_idempotent.flow_slug
            using errcode = '40001';
    end if;
    if v_run.input is distinct from start_flow_idempotent.input then
        raise exception 'Idempotency key % of flow % was used with a different input (run %)',
            start_flow_idempotent.idempotency_key, start_flow_idempotent.flow_slug, v_run.run_id
            using errcode = '22023';
    end if;

    return next v_run;
end;
$$;
