-- complete_tasks applies a batch of results as complete_task would one by one: map tasks that
-- do not finish their step take the set-based path; the rest go through complete_task.
begin;
select plan(16);

select pgflow.create_flow('ctb_map');
select pgflow.add_step('ctb_map', 'each', step_type => 'map');
select pgflow.add_step('ctb_map', 'join', array['each']);
select run_id as run from pgflow.start_flow('ctb_map', '[10, 11, 12, 13, 14]') \gset
select count(*) from pgflow_tests.rc_start_all(:'run');

-- fast path: 3 of 5 map tasks (one of them twice)
select is(
    (select count(*)::int from pgflow.complete_tasks(
        array[:'run', :'run', :'run', :'run']::uuid[], array['each', 'each', 'each', 'each'],
        array[2, 0, 1, 0], array['"c"', '"a"', '"b"', '"a2"']::jsonb[]
    )),
    3, 'one row per distinct known task'
);
select results_eq(
    $$ select task_index, status, output from pgflow.step_tasks
       where flow_slug = 'ctb_map' and step_slug = 'each' order by task_index $$,
    $$ values (0, 'completed'::text, '"a"'::jsonb), (1, 'completed', '"b"'), (2, 'completed', '"c"'),
              (3, 'started', null), (4, 'started', null) $$,
    'the started tasks are completed once (the first output of a duplicate wins, as with complete_task)'
);
select is(
    (select row(status, remaining_tasks) from pgflow.step_states where run_id = :'run' and step_slug = 'each'),
    row('started'::text, 2), 'the map step counts down by the tasks completed and stays started'
);
select is(pgflow_tests.rc_queue_count('ctb_map'), 2, 'the completed tasks'' messages are archived');
select is(pgflow_tests.rc_archive_count('ctb_map'), 3, 'into the archive');

-- a replay of completed tasks changes nothing
select is(
    (select array_agg(status order by task_index) from pgflow.complete_tasks(
        array[:'run', :'run']::uuid[], array['each', 'each'], array[0, 1], array['"x"', '"y"']::jsonb[]
    )),
    array['completed', 'completed'], 'a duplicate batch returns the rows unchanged'
);
select is(
    (select remaining_tasks from pgflow.step_states where run_id = :'run' and step_slug = 'each'), 2,
    'and does not count down again'
);

-- the batch that finishes the map goes through complete_task: aggregation, join started
select is(
    (select count(*)::int from pgflow.complete_tasks(
        array[:'run', :'run']::uuid[], array['each', 'each'], array[4, 3], array['"e"', '"d"']::jsonb[]
    )),
    2, 'two rows'
);
select is(
    (select row(status, output) from pgflow.step_states where run_id = :'run' and step_slug = 'each'),
    row('completed'::text, '["a", "b", "c", "d", "e"]'::jsonb), 'the map completes with its outputs in order'
);
select is(
    (select status from pgflow.step_states where run_id = :'run' and step_slug = 'join'), 'started',
    'its dependent starts'
);
select is(pgflow_tests.rc_queue_count('ctb_map'), 1, 'only the join''s message is left in the queue');

-- single steps of several runs in one batch; an unknown task is ignored
select pgflow.create_flow('ctb_single');
select pgflow.add_step('ctb_single', 'only');
select run_id as r1 from pgflow.start_flow('ctb_single', '{}') \gset
select run_id as r2 from pgflow.start_flow('ctb_single', '{}') \gset
select count(*) from pgflow_tests.rc_start_all(:'r1');
select count(*) from pgflow_tests.rc_start_all(:'r2');
select is(
    (select count(*)::int from pgflow.complete_tasks(
        array[:'r2', :'r1', gen_random_uuid()]::uuid[], array['only', 'only', 'only'], array[0, 0, 0],
        array['2', '1', '0']::jsonb[]
    )),
    2, 'rows for the known tasks only'
);
select results_eq(
    $$ select status, output from pgflow.runs where flow_slug = 'ctb_single' order by output::text $$,
    $$ values ('completed'::text, '{"only": 1}'::jsonb), ('completed', '{"only": 2}') $$,
    'both runs complete with their own outputs'
);
select is(pgflow_tests.rc_queue_count('ctb_single'), 0, 'both messages archived');

-- empty and malformed batches
select is_empty(
    $$ select * from pgflow.complete_tasks('{}'::uuid[], '{}'::text[], '{}'::int[], '{}'::jsonb[]) $$,
    'an empty batch returns nothing'
);
select throws_ok(
    $$ select * from pgflow.complete_tasks(array[gen_random_uuid()], '{}'::text[], array[0], array['1'::jsonb]) $$,
    'P0001', 'run_ids, step_slugs, task_indexes and outputs must have the same length (1, 0, 1, 1)',
    'arrays of different lengths are refused'
);

select * from finish();
rollback;
