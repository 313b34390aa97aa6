-- complete_tasks_count: complete_tasks' batch without the rows read back. It returns how many
-- distinct known tasks the items name, has complete_tasks' effects, classifies a batch mixing
-- fast, finishing and general items in one pass, and checks its arrays.
begin;
select plan(9);

select pgflow.create_flow('ctc_map');
select pgflow.add_step('ctc_map', 'each', step_type => 'map');
select pgflow.add_step('ctc_map', 'join', array['each']);
select run_id as run from pgflow.start_flow('ctc_map', '[10, 11, 12]') \gset
select count(*) from pgflow_tests.rc_start_all(:'run');

select pgflow.create_flow('ctc_one');
select pgflow.add_step('ctc_one', 'only');
select run_id as one from pgflow.start_flow('ctc_one', '{}') \gset
select count(*) from pgflow_tests.rc_start_all(:'one');

-- one batch: two map tasks (one twice) that do not finish the map (fast), the single step
-- that finishes its run (finishing), an unknown task (nothing), a task index that does not exist
select is(
    pgflow.complete_tasks_count(
        array[:'run', :'run', :'run', :'one', :'one', gen_random_uuid()]::uuid[],
        array['each', 'each', 'each', 'only', 'only', 'only'],
        array[1, 0, 1, 0, 7, 0],
        array['"b"', '"a"', '"b2"', '{"ok": true}', '1', '2']::jsonb[]
    ),
    3, 'distinct known tasks: two map tasks (one given twice) and the single step'
);
select results_eq(
    $$ select task_index, status, output from pgflow.step_tasks
       where flow_slug = 'ctc_map' and step_slug = 'each' order by task_index $$,
    $$ values (0, 'completed'::text, '"a"'::jsonb), (1, 'completed', '"b"'), (2, 'started', null) $$,
    'fast path: the map tasks are completed, the first output of a duplicate wins'
);
select is(
    (select row(status, remaining_tasks) from pgflow.step_states where run_id = :'run' and step_slug = 'each'),
    row('started'::text, 1), 'the map counts down and stays started'
);
select is(
    (select row(status, output) from pgflow.runs where run_id = :'one'),
    row('completed'::text, '{"only": {"ok": true}}'::jsonb),
    'finishing path in the same batch: the single-step run completes with its output'
);
select is(pgflow_tests.rc_queue_count('ctc_map') + pgflow_tests.rc_queue_count('ctc_one'), 1,
    'only the unfinished map task''s message is left in the queues');

-- the last map task: the map finishes, its output aggregates in order, join starts
select is(
    pgflow.complete_tasks_count(array[:'run']::uuid[], array['each'], array[2], array['"c"']::jsonb[]),
    1, 'the task that finishes the map'
);
select is(
    (select output from pgflow.step_states where run_id = :'run' and step_slug = 'each'),
    '["a", "b", "c"]'::jsonb, 'the map''s output: its tasks'' outputs by task_index'
);

select is(
    pgflow.complete_tasks_count('{}'::uuid[], '{}'::text[], '{}'::int[], '{}'::jsonb[]), 0, 'an empty batch: 0'
);
select throws_ok(
    $$ select pgflow.complete_tasks_count(array[gen_random_uuid()], array['a', 'b'], array[0], array['1']::jsonb[]) $$,
    'P0001',
    'run_ids, step_slugs, task_indexes and outputs must have the same length (1, 2, 1, 1)',
    'arrays of different lengths are refused'
);

select * from finish();
rollback;
