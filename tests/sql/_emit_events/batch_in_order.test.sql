-- _emit_events: one realtime.send per event in array order (when realtime.send exists), one
-- NOTIFY per event, the count returned; arrays of different lengths raise.
begin;
select plan(6);

select is(
    pgflow._emit_events(
        array['run:started', 'step:a:started', 'step:a:completed'],
        array[
            jsonb_build_object('event_type', 'run:started', 'run_id', '00000000-0000-0000-0000-0000000000f1', 'n', 1),
            jsonb_build_object('event_type', 'step:started', 'run_id', '00000000-0000-0000-0000-0000000000f1', 'n', 2),
            jsonb_build_object('event_type', 'step:completed', 'run_id', '00000000-0000-0000-0000-0000000000f1', 'n', 3)
        ]
    ),
    3, 'returns the number of events'
);
select results_eq(
    $$ select event, (payload ->> 'n')::int from realtime.messages
       where topic = 'pgflow:run:00000000-0000-0000-0000-0000000000f1' order by inserted_at, (payload ->> 'n')::int $$,
    $$ values ('run:started'::text, 1), ('step:a:started', 2), ('step:a:completed', 3) $$,
    'one realtime broadcast per event, named like it, on the run''s topic'
);
select is(pgflow._emit_events('{}', '{}'), 0, 'no events: nothing sent');
select is(pgflow._emit_events(null, null), 0, 'null arrays: nothing sent');
select lives_ok(
    $$ select pgflow._emit_events(array['step:big:completed'], array[jsonb_build_object(
        'event_type', 'step:completed', 'run_id', '00000000-0000-0000-0000-0000000000f2',
        'output', repeat('y', 100000))]) $$,
    'a payload over NOTIFY''s limit is cut, not refused'
);
select throws_ok(
    $$ select pgflow._emit_events(array['a', 'b'], array['{}'::jsonb]) $$,
    'P0001', 'events and payloads must have the same length (2, 1)',
    'arrays of different lengths raise'
);

select * from finish();
rollback;
