begin;
select plan(16);

select pgflow.create_flow('rc_st', timeout => 40);
select pgflow.add_step('rc_st', 'a');
select pgflow.add_step('rc_st', 'b', timeout => 7);
select pgflow.add_step('rc_st', 'c', array['a', 'b']);
select pgflow.add_step('rc_st', 'm', step_type => 'map');
select pgflow_tests.ensure_worker('rc_st');

select run_id as run from pgflow.start_flow('rc_st', '[10, null, {"k":1}]') \gset

select message_id as a_msg from pgflow.step_tasks where run_id = :'run' and step_slug = 'a' \gset
select message_id as b_msg from pgflow.step_tasks where run_id = :'run' and step_slug = 'b' \gset

-- ineligible ids: unknown, and another flow's message with the same id space
select is(
    (select count(*)::int from pgflow.start_tasks('rc_st', array[999999::bigint], '11111111-1111-1111-1111-111111111111')),
    0, 'an unknown message id is ignored'
);
select is(
    (select count(*)::int from pgflow.start_tasks('rc_other_flow', array[:a_msg::bigint], '11111111-1111-1111-1111-111111111111')),
    0, 'a message id of another flow is ignored'
);

create temp table t_started as
select * from pgflow.start_tasks('rc_st', array[:a_msg, :b_msg, 999999]::bigint[], '11111111-1111-1111-1111-111111111111');
select is((select count(*)::int from t_started), 2, 'only eligible tasks are returned');
select results_eq(
    $$ select step_slug, input, flow_input from t_started order by step_slug $$,
    $$ values ('a'::text, '{}'::jsonb, '[10, null, {"k":1}]'::jsonb), ('b', '{}', '[10, null, {"k":1}]') $$,
    'root single steps: input {} and flow_input = run input'
);
select results_eq(
    $$ select step_slug, status, attempts_count, last_worker_id, started_at is not null from pgflow.step_tasks
       where run_id = (select run_id from t_started limit 1) and step_slug in ('a', 'b') order by step_slug $$,
    $$ values ('a'::text, 'started'::text, 1, '11111111-1111-1111-1111-111111111111'::uuid, true),
              ('b', 'started', 1, '11111111-1111-1111-1111-111111111111'::uuid, true) $$,
    'started: status, attempts_count + 1, last_worker_id, started_at'
);
select ok(
    (select m.vt between clock_timestamp() + interval '41 seconds' and clock_timestamp() + interval '42.5 seconds'
     from pgflow_tests.rc_message('rc_st', :a_msg) as m),
    'vt = flow timeout (40) + 2 s'
);
select ok(
    (select m.vt between clock_timestamp() + interval '8 seconds' and clock_timestamp() + interval '9.5 seconds'
     from pgflow_tests.rc_message('rc_st', :b_msg) as m),
    'vt = step timeout (7) + 2 s when the step overrides it'
);
select is(
    (select read_ct from pgflow_tests.rc_message('rc_st', :a_msg)), 0, 'read_ct is not touched'
);

-- a started task is not started again
select is(
    (select count(*)::int from pgflow.start_tasks('rc_st', array[:a_msg::bigint], '11111111-1111-1111-1111-111111111111')),
    0, 'an already started task is ignored'
);
select is(
    (select attempts_count from pgflow.step_tasks where run_id = :'run' and step_slug = 'a'), 1,
    'and its attempts_count is unchanged'
);

-- map: bare elements, nulls preserved, flow_input NULL
create temp table t_map as select * from pgflow_tests.rc_start_all(:'run');
select results_eq(
    $$ select task_index, input, flow_input from t_map order by task_index $$,
    $$ values (0, '10'::jsonb, null::jsonb), (1, 'null', null), (2, '{"k":1}', null) $$,
    'root map tasks get the bare element at task_index (JSON null kept), flow_input NULL'
);

-- dependent single step: only COMPLETED deps, skipped ones absent
select pgflow.complete_task(:'run', 'a', 0, '{"from":"a"}');
update pgflow.step_states
set status = 'skipped', skip_reason = 'condition_unmet', skipped_at = now(), remaining_tasks = null
where run_id = :'run' and step_slug = 'b';
update pgflow.step_states set remaining_deps = 0 where run_id = :'run' and step_slug = 'c';
select pgflow.start_ready_steps(:'run');
create temp table t_c as select * from pgflow_tests.rc_start_all(:'run');
select is((select input from t_c where step_slug = 'c'), '{"a":{"from":"a"}}'::jsonb,
    'dependent single step: {dep: output} over completed deps only');
select is((select flow_input from t_c where step_slug = 'c'), null::jsonb, 'dependent step: flow_input NULL');

-- run not started / step not started: nothing starts
select run_id as run2 from pgflow.start_flow('rc_st', '[]') \gset
select message_id as a2_msg from pgflow.step_tasks where run_id = :'run2' and step_slug = 'a' \gset
select message_id as b2_msg from pgflow.step_tasks where run_id = :'run2' and step_slug = 'b' \gset
update pgflow.runs set status = 'failed', failed_at = now() where run_id = :'run2';
select is(
    (select count(*)::int from pgflow.start_tasks('rc_st', array[:a2_msg::bigint], '11111111-1111-1111-1111-111111111111')),
    0, 'tasks of a failed run are ignored'
);
update pgflow.runs set status = 'started', failed_at = null where run_id = :'run2';
update pgflow.step_states
set status = 'skipped', skip_reason = 'condition_unmet', skipped_at = now(), remaining_tasks = null
where run_id = :'run2' and step_slug = 'b';
select is(
    (select count(*)::int from pgflow.start_tasks('rc_st', array[:b2_msg::bigint], '11111111-1111-1111-1111-111111111111')),
    0, 'tasks of a step that is not started are ignored'
);
select is(
    (select status from pgflow.step_tasks where run_id = :'run2' and step_slug = 'b'), 'queued',
    'and stay queued'
);

select * from finish();
rollback;
