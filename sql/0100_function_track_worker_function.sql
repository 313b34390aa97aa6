-- pgflow.track_worker_function(function_name): registers an edge function that ensure_workers
-- keeps alive. Called by a worker when it starts (before ensure_flow_compiled).
-- New function: a row with the table defaults (enabled, 6 s debounce). Known function: only
-- updated_at moves. updated_at uses clock_timestamp() so that it is later than created_at even
-- within one transaction. Never touches last_invoked_at (that belongs to ensure_workers).
-- Locks: the worker_functions row (upsert). Raises nothing of its own.
create or replace function pgflow.track_worker_function(function_name text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    insert into pgflow.worker_functions as wf (function_name, updated_at)
    values (track_worker_function.function_name, clock_timestamp())
    on conflict on constraint worker_functions_pkey
    do update set updated_at = clock_timestamp();
end;
$$;
