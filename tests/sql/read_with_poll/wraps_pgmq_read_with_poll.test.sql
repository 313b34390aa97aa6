-- pgflow.read_with_poll: a thin wrapper over pgmq.read_with_poll, kept for callers that can reach
-- only schema pgflow: same parameters and defaults, same rows.
begin;
select plan(6);

select pgmq.create('rc_rwp');
select pgmq.send('rc_rwp', '{"a": 1}') as m1 \gset
select pgmq.send('rc_rwp', '{"b": 2}') as m2 \gset

select is(
    pg_get_function_arguments('pgflow.read_with_poll(text, int, int, int, int, jsonb)'::regprocedure),
    pg_get_function_arguments('pgmq.read_with_poll(text, int, int, int, int, jsonb)'::regprocedure),
    'same parameter names, types and defaults as pgmq.read_with_poll'
);
select is(
    pg_get_function_result('pgflow.read_with_poll(text, int, int, int, int, jsonb)'::regprocedure),
    'SETOF pgmq.message_record',
    'returns pgmq''s message records'
);

create temp table t_read on commit drop as select * from pgflow.read_with_poll('rc_rwp', 30, 1, 1, 10);
select is(
    (select row(t.msg_id, t.read_ct, t.message)::text from t_read as t),
    row(:m1::bigint, 1, '{"a": 1}'::jsonb)::text,
    'reads the first visible message, as pgmq does (read_ct 1, body)'
);
select is(
    (select array_agg(m.msg_id) from pgflow.read_with_poll('rc_rwp', 30, 5, conditional => '{"b": 2}') as m),
    array[:m2::bigint],
    'passes conditional on'
);
select is(
    (select count(*)::int from pgflow.read_with_poll('rc_rwp', 30, 5, max_poll_seconds => 0)),
    0,
    'read messages stay hidden for vt seconds; max_poll_seconds 0 returns at once'
);
select throws_ok(
    $$select * from pgflow.read_with_poll('rc_no_such_queue', 30, 1, 1)$$,
    '42P01',
    null,
    'an unknown queue raises pgmq''s error'
);

select * from finish();
rollback;
