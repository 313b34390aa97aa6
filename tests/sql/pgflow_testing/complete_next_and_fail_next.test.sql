-- pgflow_testing.complete_next / fail_next play the worker one task at a time: the next task in
-- queue order (retry back-off skipped), filters by step and run, errors that say what is missing.
begin;
select plan(16);

select pgflow.create_flow('pt_next', max_attempts => 2);
select pgflow.add_step('pt_next', 'list');
select pgflow.add_step('pt_next', 'each', deps_slugs => array['list'], step_type => 'map');
select pgflow.add_step('pt_next', 'total', deps_slugs => array['each']);
select run_id as rid from pgflow.start_flow('pt_next', '{"n": 2}') \gset

select throws_ok(
    $$ select pgflow_testing.complete_next('pt_next', '1', step_slug => 'total') $$,
    'P0002', 'pgflow_testing.complete_next: no queued task in flow "pt_next" for step "total"',
    'a step that is not queued yet: the error names the flow and the step'
);
select is(
    (select row(t.step_slug, t.task_index, t.status, t.output)::text
     from pgflow_testing.complete_next('pt_next', '[10, 20, 30]', step_slug => 'list') as t),
    row('list', 0, 'completed', '[10, 20, 30]'::jsonb)::text,
    'complete_next completes the root step with the output given'
);
select is(
    (select array_agg(st.status order by st.task_index) from pgflow.step_tasks as st
     where st.run_id = :'rid' and st.step_slug = 'each'),
    array['queued', 'queued', 'queued'],
    'the map step has one queued task per element'
);
select is(
    (select row(t.step_slug, t.task_index, t.output)::text from pgflow_testing.complete_next('pt_next', '11') as t),
    row('each', 0, '11'::jsonb)::text,
    'the next task in queue order is the first element'
);
select is(
    (select row(t.task_index, t.status, t.attempts_count, t.error_message)::text
     from pgflow_testing.fail_next('pt_next', 'boom') as t),
    row(1, 'queued', 1, 'boom')::text,
    'fail_next fails the second element: queued again for its retry'
);
select is(
    (select t.task_index from pgflow_testing.complete_next('pt_next', '33') as t), 2,
    'a retried task waits out its back-off in queue order: the third element comes first'
);
select is(
    (select row(t.task_index, t.attempts_count, t.output)::text from pgflow_testing.complete_next('pt_next', '22') as t),
    row(1, 2, '22'::jsonb)::text,
    'then the retry, its back-off skipped, on its second attempt'
);
select is(
    (select ss.output from pgflow.step_states as ss where ss.run_id = :'rid' and ss.step_slug = 'each'),
    '[11, 22, 33]'::jsonb,
    'the map step output is the elements'' outputs in order'
);
select is(
    (select t.step_slug from pgflow_testing.complete_next('pt_next', '66', run_id => :'rid') as t), 'total',
    'run_id narrows the choice to that run'
);
select is(
    (select row(r.status, r.output)::text from pgflow.runs as r where r.run_id = :'rid'),
    row('completed', '{"total": 66}'::jsonb)::text,
    'the run completed with the leaf step output'
);
select throws_ok(
    $$ select pgflow_testing.complete_next('pt_next', '1') $$,
    'P0002', 'pgflow_testing.complete_next: no queued task in flow "pt_next"',
    'nothing left: the error says so'
);
select throws_ok(
    $$ select pgflow_testing.fail_next('pt_nope', 'x') $$,
    'P0002', 'pgflow_testing: flow "pt_nope" does not exist',
    'an unknown flow is named'
);

-- fail_next on the last attempt fails the step and the run
select run_id as rid2 from pgflow.start_flow('pt_next', '{}') \gset
select pgflow_testing.fail_next('pt_next', 'first');
select is(
    (select row(t.status, t.attempts_count)::text from pgflow_testing.fail_next('pt_next', 'second') as t),
    row('failed', 2)::text,
    'fail_next on the last attempt fails the task'
);
select is(
    (select row(r.status, ss.status, ss.error_message)::text
     from pgflow.runs as r join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = 'list'
     where r.run_id = :'rid2'),
    row('failed', 'failed', 'second')::text,
    'and with it the step and the run'
);
select is(
    (select w.function_name from pgflow.workers as w
     join pgflow.step_tasks as st on st.last_worker_id = w.worker_id
     where st.run_id = :'rid2'),
    'pgflow_testing',
    'the tasks were started by the pgflow_testing worker of the flow'
);
select throws_ok(
    $$ select pgflow_testing.complete_next('pt_next', '1', run_id => '00000000-0000-0000-0000-000000000001') $$,
    'P0002', 'pgflow_testing.complete_next: no queued task in flow "pt_next" in run 00000000-0000-0000-0000-000000000001',
    'the error names the run filter'
);

select * from finish();
rollback;
