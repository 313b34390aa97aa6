begin;
select plan(9);

select pgmq.create('rc_vtq');
select pgmq.send('rc_vtq', '{"n":1}') as m1 \gset
select pgmq.send('rc_vtq', '{"n":2}') as m2 \gset
select pgmq.send('rc_vtq', '{"n":3}') as m3 \gset

select is(
    (select count(*)::int from pgflow.set_vt_batch('rc_vtq', array[]::bigint[], array[]::int[])), 0,
    'empty msg_ids: empty result'
);
select is(
    (select count(*)::int from pgflow.set_vt_batch('rc_vtq', null, null)), 0, 'NULL msg_ids: empty result'
);
select throws_ok(
    $$ select pgflow.set_vt_batch('rc_vtq', array[1, 2]::bigint[], array[5]) $$, 'P0001',
    'msg_ids length (2) must equal vt_offsets length (1)', 'length mismatch'
);
select is(
    (select count(*)::int from pgflow.set_vt_batch('rc_vtq', array[1]::bigint[], null)), 0, 'NULL offsets: empty result'
);
select throws_ok(
    $$ select pgflow.set_vt_batch('rc_no_such_queue', array[1]::bigint[], array[1]) $$, '42P01',
    'relation "pgmq.q_rc_no_such_queue" does not exist', 'unknown queue'
);

create temp table t_vt as
select * from pgflow.set_vt_batch('rc_vtq', array[:m1, :m3]::bigint[], array[100, 300]);
select is((select count(*)::int from t_vt), 2, 'returns the updated rows');
select ok(
    (select bool_and(
        case t.msg_id
            when :m1 then t.vt between clock_timestamp() + interval '99 seconds' and clock_timestamp() + interval '101 seconds'
            when :m3 then t.vt between clock_timestamp() + interval '299 seconds' and clock_timestamp() + interval '301 seconds'
        end) from t_vt as t),
    'offsets paired with ids by position'
);
select is(
    (select array_agg(message order by msg_id) from t_vt), array['{"n":1}', '{"n":3}']::jsonb[],
    'message bodies returned; headers column present'
);
select ok(
    (select vt <= clock_timestamp() from pgmq.q_rc_vtq where msg_id = :m2), 'other messages untouched'
);

select * from finish();
rollback;
