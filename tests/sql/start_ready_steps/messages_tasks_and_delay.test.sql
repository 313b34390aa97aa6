begin;
select plan(10);

select pgflow.create_flow('rc_srs');
select pgflow.add_step('rc_srs', 'now_map', step_type => 'map');
select pgflow.add_step('rc_srs', 'later', start_delay => 30);

select run_id as run from pgflow.start_flow('rc_srs', '["x","y","z"]', '00000000-0000-0000-0000-00000000b001') \gset

select results_eq(
    $$ select st.task_index, (select m.message from pgflow_tests.rc_message('rc_srs', st.message_id) as m)
       from pgflow.step_tasks as st
       where st.run_id = '00000000-0000-0000-0000-00000000b001' and st.step_slug = 'now_map'
       order by st.task_index $$,
    $$ select i, jsonb_build_object('flow_slug', 'rc_srs', 'run_id', '00000000-0000-0000-0000-00000000b001',
                                    'step_slug', 'now_map', 'task_index', i)
       from generate_series(0, 2) as i $$,
    'message body is exactly {flow_slug, run_id, step_slug, task_index} and pairs with its task'
);
select is(
    (select array_agg(message_id order by task_index) = array_agg(message_id order by message_id)
     from pgflow.step_tasks where run_id = :'run' and step_slug = 'now_map'),
    true, 'message ids ascend with task_index (paired by position)'
);
select is(pgflow_tests.rc_queue_count('rc_srs'), 4, 'one message per task');
select ok(
    (select bool_and(m.vt <= clock_timestamp())
     from pgflow.step_tasks as st, pgflow_tests.rc_message('rc_srs', st.message_id) as m
     where st.run_id = :'run' and st.step_slug = 'now_map'),
    'messages of a step without start_delay are visible at once'
);
select ok(
    (select m.vt between clock_timestamp() + interval '29 seconds' and clock_timestamp() + interval '31 seconds'
     from pgflow.step_tasks as st, pgflow_tests.rc_message('rc_srs', st.message_id) as m
     where st.run_id = :'run' and st.step_slug = 'later'),
    'opt_start_delay hides the message for that many seconds'
);
select is(
    (select count(*)::int from pgmq.read('rc_srs', 10, 10)), 3, 'a reader sees only the immediately visible ones'
);

-- idempotent: nothing more is ready
select pgflow.start_ready_steps(:'run');
select is(
    (select count(*)::int from pgflow.step_tasks where run_id = :'run'), 4, 'a second call starts nothing'
);
select is(pgflow_tests.rc_queue_count('rc_srs'), 4, 'and sends nothing');

-- a failed run is left alone even if a step looks ready
select pgflow.add_step('rc_srs', 'extra', array['later']);
select run_id as run2 from pgflow.start_flow('rc_srs', '[]') \gset
update pgflow.runs set status = 'failed', failed_at = now() where run_id = :'run2';
update pgflow.step_states set remaining_deps = 0 where run_id = :'run2' and step_slug = 'extra';
select pgflow.start_ready_steps(:'run2');
select is(
    (select status from pgflow.step_states where run_id = :'run2' and step_slug = 'extra'), 'created',
    'start_ready_steps does nothing on a failed run'
);
select is(
    (select count(*)::int from pgflow.step_tasks where run_id = :'run2' and step_slug = 'extra'), 0,
    'no task for it'
);

select * from finish();
rollback;
