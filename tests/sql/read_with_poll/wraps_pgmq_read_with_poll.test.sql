begin;
select plan(4);

select pgmq.create('rc_rwp');
select pgmq.send('rc_rwp', '{"a":1}') as m1 \gset

create temp table t_read as select * from pgflow.read_with_poll('rc_rwp', 30, 5, 1, 10);
select is((select array_agg(msg_id) from t_read), array[:m1::bigint], 'reads the visible message');
select is((select message from t_read), '{"a":1}'::jsonb, 'with its body');
select is(
    (select count(*)::int from pgflow.read_with_poll('rc_rwp', 30, 5, max_poll_seconds => 0)), 0,
    'hidden for vt seconds afterwards; max_poll_seconds 0 returns at once'
);
select is(
    (select pronargdefaults::int from pg_proc where oid = 'pgflow.read_with_poll(text, int, int, int, int, jsonb)'::regprocedure),
    3, 'same parameters and defaults as pgmq.read_with_poll'
);

select * from finish();
rollback;
