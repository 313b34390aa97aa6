-- pgflow._emit_event(event, payload): publishes one run or step transition.
-- Called by every function that changes a run or step status one row at a time, once per
-- transition; the set-based paths call pgflow._emit_events, which does the work (Supabase
-- Realtime when realtime.send exists, NOTIFY on channel `pgflow` always; see there).
-- Locks nothing. Raises nothing of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._emit_event(event text, payload jsonb)
returns void
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
begin
    perform pgflow._emit_events(array[_emit_event.event], array[_emit_event.payload]);
end;
$$;
