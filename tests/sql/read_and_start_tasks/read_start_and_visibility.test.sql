-- read_and_start_tasks: pgmq.read + start_tasks in one call. Same tasks and inputs as the two
-- calls, plus attempts_count and the message's fields; the read sets the final visibility when the
-- flow has one timeout, set_vt_batch follows when it has several; messages it reads but cannot
-- start keep the caller's vt, except a started task's (hidden until its deadline).
begin;
select plan(17);

select pgflow.create_flow('rs_one', timeout => 40);
select pgflow.add_step('rs_one', 'a');
select pgflow.add_step('rs_one', 'b');
select pgflow_tests.ensure_worker('rs_one');

select run_id as run from pgflow.start_flow('rs_one', '{"x": 1}') \gset

create temp table t_got as
select * from pgflow.read_and_start_tasks('rs_one', '11111111-1111-1111-1111-111111111111', 5, 10);

select results_eq(
    $$ select step_slug, input, flow_input, attempts_count, read_ct from t_got order by step_slug $$,
    $$ values ('a'::text, '{}'::jsonb, '{"x": 1}'::jsonb, 1, 1), ('b', '{}', '{"x": 1}', 1, 1) $$,
    'both root tasks: start_tasks'' inputs, attempts_count after starting, read_ct of the read'
);
select results_eq(
    $$ select g.msg_id, g.message, g.enqueued_at from t_got as g order by g.msg_id $$,
    $$ select m.msg_id, m.message, m.enqueued_at from pgmq.q_rs_one as m order by m.msg_id $$,
    'each task comes with its message (id, body, enqueued_at)'
);
select results_eq(
    $$ select step_slug, status, attempts_count, last_worker_id from pgflow.step_tasks
       where run_id = (select run_id from t_got limit 1) order by step_slug $$,
    $$ values ('a'::text, 'started'::text, 1, '11111111-1111-1111-1111-111111111111'::uuid),
              ('b', 'started', 1, '11111111-1111-1111-1111-111111111111'::uuid) $$,
    'the tasks are started by this worker'
);
select ok(
    (select bool_and(m.vt between clock_timestamp() + interval '41 seconds' and clock_timestamp() + interval '42.5 seconds')
     from pgmq.q_rs_one as m),
    'one timeout in the flow: the read itself gives timeout (40) + 2 s'
);
select ok(
    (select bool_and(g.message_vt = m.vt) from t_got as g inner join pgmq.q_rs_one as m on m.msg_id = g.msg_id),
    'message_vt is the visibility the message has'
);
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('rs_one', '11111111-1111-1111-1111-111111111111', 5, 10)),
    0, 'nothing visible: no rows'
);

-- several timeouts: the read uses vt, start_tasks' set_vt_batch sets each step's
select pgflow.create_flow('rs_two', timeout => 40);
select pgflow.add_step('rs_two', 'a');
select pgflow.add_step('rs_two', 'b', timeout => 7);
select pgflow_tests.ensure_worker('rs_two');
select pgflow.start_flow('rs_two', '{}');
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('rs_two', '11111111-1111-1111-1111-111111111111', 5, 10)),
    2, 'both tasks of the flow with two timeouts start'
);
select ok(
    (select m.vt between clock_timestamp() + interval '41 seconds' and clock_timestamp() + interval '42.5 seconds'
     from pgmq.q_rs_two as m inner join pgflow.step_tasks as st on st.message_id = m.msg_id and st.flow_slug = 'rs_two'
     where st.step_slug = 'a'),
    'step a: flow timeout (40) + 2 s'
);
select ok(
    (select m.vt between clock_timestamp() + interval '8 seconds' and clock_timestamp() + interval '9.5 seconds'
     from pgmq.q_rs_two as m inner join pgflow.step_tasks as st on st.message_id = m.msg_id and st.flow_slug = 'rs_two'
     where st.step_slug = 'b'),
    'step b: its own timeout (7) + 2 s'
);

-- qty, and a message whose task cannot start (another worker holds it)
select pgflow.create_flow('rs_qty', timeout => 40);
select pgflow.add_step('rs_qty', 'only');
select pgflow_tests.ensure_worker('rs_qty');
select count(*) from (select pgflow.start_flow('rs_qty', '{}') from generate_series(1, 3)) as s;
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('rs_qty', '11111111-1111-1111-1111-111111111111', 5, 2)),
    2, 'at most qty tasks'
);
update pgflow.step_tasks as st set status = 'started', attempts_count = 1, started_at = now()
where st.flow_slug = 'rs_qty' and st.status = 'queued'
returning st.message_id as held_msg \gset
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('rs_qty', '11111111-1111-1111-1111-111111111111', 5, 10)),
    0, 'a message whose task is not queued is read but not started'
);
select ok(
    (select m.vt between now() + interval '41 seconds' and clock_timestamp() + interval '42.5 seconds'
     from pgmq.q_rs_qty as m where m.msg_id = :held_msg),
    'and stays hidden until the held task''s deadline (started_at + timeout 40 + 2 s), not the caller''s 5 s'
);
select is(
    (select read_ct from pgmq.q_rs_qty where msg_id = :held_msg), 1, 'the read counts in its read_ct'
);
select is(
    (select attempts_count from pgflow.step_tasks where flow_slug = 'rs_qty' and message_id = :held_msg), 1,
    'the held task is untouched'
);

-- maps: bare elements
select pgflow.create_flow('rs_map', timeout => 40);
select pgflow.add_step('rs_map', 'm', step_type => 'map');
select pgflow_tests.ensure_worker('rs_map');
select pgflow.start_flow('rs_map', '[10, null, {"k": 1}]');
select results_eq(
    $$ select task_index, input, flow_input
       from pgflow.read_and_start_tasks('rs_map', '11111111-1111-1111-1111-111111111111', 5, 10) order by task_index $$,
    $$ values (0, '10'::jsonb, null::jsonb), (1, 'null', null), (2, '{"k": 1}', null) $$,
    'map tasks get the bare element at task_index'
);

-- errors
select throws_ok(
    $$ select * from pgflow.read_and_start_tasks('rs_nope', '11111111-1111-1111-1111-111111111111', 5, 10) $$,
    '42P01', null, 'an unknown queue raises pgmq''s error'
);
select pgflow.start_flow('rs_map', '[1]');
select throws_ok(
    $$ select * from pgflow.read_and_start_tasks('rs_map', '99999999-9999-9999-9999-999999999999', 5, 10) $$,
    '23503', null, 'an unregistered worker violates step_tasks_last_worker_id_fkey'
);

select * from finish();
rollback;
