begin;
select plan(15);

-- 1 element, null elements and null outputs
select pgflow.create_flow('rc_maps');
select pgflow.add_step('rc_maps', 'each', step_type => 'map');
select pgflow.add_step('rc_maps', 'sum', array['each']);

select run_id as run1 from pgflow.start_flow('rc_maps', '[7]') \gset
create temp table t1 as select * from pgflow_tests.rc_start_all(:'run1');
select is((select array_agg(input) from t1), array['7'::jsonb], 'one-element map: one task with the element');
select pgflow.complete_task(:'run1', 'each', 0, '70');
select is(
    (select output from pgflow.step_states where run_id = :'run1' and step_slug = 'each'), '[70]'::jsonb,
    'one-element map output is a one-element array'
);

select run_id as run2 from pgflow.start_flow('rc_maps', '[null, 1, null]') \gset
create temp table t2 as select * from pgflow_tests.rc_start_all(:'run2');
select results_eq(
    $$ select task_index, input from t2 order by task_index $$,
    $$ values (0, 'null'::jsonb), (1, '1'), (2, 'null') $$,
    'null elements are passed as JSON null'
);
select pgflow.complete_task(:'run2', 'each', 1, null);
select pgflow.complete_task(:'run2', 'each', 2, '"z"');
select pgflow.complete_task(:'run2', 'each', 0, 'null');
select is(
    (select output from pgflow.step_states where run_id = :'run2' and step_slug = 'each'),
    '[null, null, "z"]'::jsonb, 'SQL NULL and JSON null outputs both aggregate as null, in task order'
);
create temp table t2s as select * from pgflow_tests.rc_start_all(:'run2');
select is((select input from t2s), '{"each":[null, null, "z"]}'::jsonb, 'dependent single sees the array');

-- map after map after single, and a single producing [] for a dependent map
select pgflow.create_flow('rc_chain');
select pgflow.add_step('rc_chain', 'src');
select pgflow.add_step('rc_chain', 'double', array['src'], step_type => 'map');
select pgflow.add_step('rc_chain', 'plus', array['double'], step_type => 'map');
select pgflow.add_step('rc_chain', 'total', array['plus']);

select run_id as run3 from pgflow.start_flow('rc_chain', '{}') \gset
select pgflow_tests.rc_run_step(:'run3', 'src', '[1,2,3]');
create temp table t3 as select * from pgflow_tests.rc_start_all(:'run3');
select is((select array_agg(input order by task_index) from t3), array['1', '2', '3']::jsonb[], 'first map gets elements');
select pgflow.complete_task(:'run3', 'double', 2, '6');
select pgflow.complete_task(:'run3', 'double', 0, '2');
select is(
    (select initial_tasks from pgflow.step_states where run_id = :'run3' and step_slug = 'plus'), null::int,
    'map child size unknown until the parent map completes'
);
select pgflow.complete_task(:'run3', 'double', 1, '4');
select is(
    (select row(status, initial_tasks, remaining_tasks) from pgflow.step_states
     where run_id = :'run3' and step_slug = 'plus'),
    row('started'::text, 3, 3), 'map-after-map: child sized by the number of parent tasks'
);
create temp table t3b as select * from pgflow_tests.rc_start_all(:'run3');
select results_eq(
    $$ select task_index, input from t3b order by task_index $$,
    $$ values (0, '2'::jsonb), (1, '4'), (2, '6') $$,
    'second map gets the elements of the first map output'
);
select pgflow.complete_task(:'run3', 'plus', t.task_index, to_jsonb((t.input)::text::int + 1)) from t3b as t;
select pgflow_tests.rc_run_step(:'run3', 'total', '"done"');
select is(
    (select row(status, output) from pgflow.runs where run_id = :'run3'),
    row('completed'::text, '{"total":"done"}'::jsonb), 'chain run completed'
);
select is(
    (select output from pgflow.step_states where run_id = :'run3' and step_slug = 'plus'), '[3,5,7]'::jsonb,
    'second map output'
);

-- single producing [] -> dependent map is taskless, chain continues
select run_id as run4 from pgflow.start_flow('rc_chain', '{}') \gset
select pgflow_tests.rc_run_step(:'run4', 'src', '[]');
select results_eq(
    $$ select step_slug, status, output from pgflow.step_states
       where run_id = (select run_id from pgflow.runs where flow_slug = 'rc_chain' and status = 'started')
       order by step_slug $$,
    $$ values ('double'::text, 'completed'::text, '[]'::jsonb), ('plus', 'completed', '[]'),
              ('src', 'completed', '[]'), ('total', 'started', null) $$,
    'empty parent output: both maps complete taskless with [], the single after them starts'
);
create temp table t4 as select * from pgflow_tests.rc_start_all(:'run4');
select is((select input from t4), '{"plus":[]}'::jsonb, 'it gets the empty array');
select is(
    (select remaining_steps from pgflow.runs where run_id = :'run4'), 1, 'remaining_steps counts taskless completions'
);
select is(
    pgflow_tests.rc_event_names(:'run4'),
    array['run:started', 'step:src:started', 'step:src:completed', 'step:double:completed',
          'step:plus:completed', 'step:total:started'],
    'parent completion, then the taskless cascade in topological order, then the start'
);

select * from finish();
rollback;
