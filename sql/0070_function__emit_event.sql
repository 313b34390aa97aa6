-- pgflow._emit_event(event, payload): publishes one run or step transition.
-- Called by every function that changes a run or step status, once per transition.
--
-- Two channels:
--   * Supabase Realtime: realtime.send(payload, event, 'pgflow:run:<run_id>', false), only when a
--     function realtime.send(jsonb, text, text, boolean) exists (Supabase, or a stand-in).
--   * LISTEN/NOTIFY, always: channel `pgflow`, payload = the event payload plus an "event" key.
--     NOTIFY payloads are limited to 8000 bytes, so when the payload is larger its bulky keys
--     (input, output, error_message) are dropped and "truncated": true is added; a listener then
--     reads the full state with pgflow.get_run_with_states(run_id).
-- Locks nothing. Raises nothing of its own.
create or replace function pgflow._emit_event(event text, payload jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_notify text;
begin
    if to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
        execute 'select realtime.send($1, $2, $3, false)'
        using _emit_event.payload, _emit_event.event, 'pgflow:run:' || (_emit_event.payload ->> 'run_id');
    end if;

    v_notify := (_emit_event.payload || jsonb_build_object('event', _emit_event.event))::text;
    if octet_length(v_notify) > 7900 then
        v_notify := (
            (_emit_event.payload - 'input' - 'output' - 'error_message')
            || jsonb_build_object('event', _emit_event.event, 'truncated', true)
        )::text;
    end if;
    perform pg_notify('pgflow', v_notify);
end;
$$;
