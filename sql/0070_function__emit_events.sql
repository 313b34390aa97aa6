-- pgflow._emit_events(events, payloads): publishes run or step transitions, event i being
-- (events[i], payloads[i]), in array order. One call for a whole batch of transitions (pgflow-py's
-- set-based paths); pgflow._emit_event is the one-event form.
--
-- Two channels:
--   * Supabase Realtime: realtime.send(payload, event, 'pgflow:run:<run_id>', false), only when a
--     function realtime.send(jsonb, text, text, boolean) exists (Supabase, or a stand-in), and only
--     for events of a run (payload with a run_id; `worker:dead` has none and goes out by NOTIFY).
--   * LISTEN/NOTIFY, always: channel `pgflow`, payload = the event payload plus an "event" key.
--     NOTIFY payloads are limited to 8000 bytes, so when the payload is larger its bulky keys
--     (input, output, error_message) are dropped and "truncated": true is added; a listener then
--     reads the full state with pgflow.get_run_with_states(run_id).
-- Returns the number of events. Locks nothing. Raises when the arrays differ in length.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._emit_events(events text [], payloads jsonb [])
returns int
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_item record;
    v_n int;
begin
    -- GUARD: positional arrays of one length
    if coalesce(cardinality(_emit_events.events), 0) <> coalesce(cardinality(_emit_events.payloads), 0) then
        raise exception 'events and payloads must have the same length (%, %)',
            coalesce(cardinality(_emit_events.events), 0), coalesce(cardinality(_emit_events.payloads), 0);
    end if;

    if to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
        for v_item in
            select e.event, e.payload
            from unnest(_emit_events.events, _emit_events.payloads) with ordinality as e (event, payload, ord)
            where e.payload ? 'run_id'
            order by e.ord
        loop
            execute 'select realtime.send($1, $2, $3, false)'
            using v_item.payload, v_item.event, 'pgflow:run:' || (v_item.payload ->> 'run_id');
        end loop;
    end if;

    -- MAIN: one NOTIFY per event, in array order
    select count(
        pg_notify(
            'pgflow',
            case
                when octet_length(n.full_text) <= 7900 then n.full_text
                else (
                    (n.payload - 'input' - 'output' - 'error_message')
                    || jsonb_build_object('event', n.event, 'truncated', true)
                )::text
            end
        )
    )
    into v_n
    from (
        select e.event, e.payload, (e.payload || jsonb_build_object('event', e.event))::text as full_text
        from unnest(_emit_events.events, _emit_events.payloads) with ordinality as e (event, payload, ord)
        order by e.ord
    ) as n;
    return v_n;
end;
$$;
