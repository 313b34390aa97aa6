-- complete_tasks_and_claim: completing a batch hands the completing worker up to qty of the tasks
-- it makes ready in the worker's flow, started as start_tasks would start them (their messages
-- hidden for the step's timeout + 2 s); the rest are queued and visible as usual. Steps with a
-- start delay, other flows and qty 0 claim nothing.
begin;
select plan(17);

-- a chain: a -> b (timeout 30) -> c (start delay 60)
select pgflow.create_flow('ctac_chain', timeout => 10);
select pgflow.add_step('ctac_chain', 'a');
select pgflow.add_step('ctac_chain', 'b', array['a'], timeout => 30);
select pgflow.add_step('ctac_chain', 'c', array['b'], start_delay => 60);
select pgflow_tests.ensure_worker('ctac_chain', '22222222-2222-2222-2222-222222222222');
select run_id as run from pgflow.start_flow('ctac_chain', '{"n": 1}') \gset
select count(*) from pgflow_tests.read_and_start('ctac_chain', 30, 10, '22222222-2222-2222-2222-222222222222');

create temp table ctac_got as
select * from pgflow.complete_tasks_and_claim(
    array[:'run']::uuid[], array['a'], array[0], array['{"x": 1}']::jsonb[],
    '22222222-2222-2222-2222-222222222222', 5
);
select is((select count(*)::int from ctac_got), 1, 'the next step''s task is handed over');
select is(
    (select row(step_slug, task_index, input, flow_input, attempts_count, read_ct) from ctac_got),
    row('b'::text, 0, '{"a": {"x": 1}}'::jsonb, null::jsonb, 1, 0),
    'with its input (the dependency''s output), attempt 1, its message never read'
);
select is(
    (select message from ctac_got),
    jsonb_build_object('flow_slug', 'ctac_chain', 'run_id', :'run'::uuid, 'step_slug', 'b', 'task_index', 0),
    'and its queue message'
);
select is(
    (select row(status, attempts_count, last_worker_id, started_at = now())
     from pgflow.step_tasks where run_id = :'run' and step_slug = 'b'),
    row('started'::text, 1, '22222222-2222-2222-2222-222222222222'::uuid, true),
    'the task is started by the claiming worker'
);
select is(
    (select row(status, started_at = now(), remaining_tasks) from pgflow.step_states where run_id = :'run' and step_slug = 'b'),
    row('started'::text, true, 1), 'its step is started'
);
select ok(
    (select message_vt between now() + interval '31 seconds' and clock_timestamp() + interval '32 seconds' from ctac_got),
    'its message is hidden for the step''s timeout + 2 s'
);
select is(
    (select count(*)::int from pgmq.read('ctac_chain', 30, 10)), 0, 'so no other worker reads it'
);
select is(
    (select row(status, output) from pgflow.step_states where run_id = :'run' and step_slug = 'a'),
    row('completed'::text, '{"x": 1}'::jsonb), 'the completed step is recorded as complete_task records it'
);

-- the claimed task completes like any started task; the next step has a start delay: not claimed
select is(
    (select count(*)::int from pgflow.complete_tasks_and_claim(
        array[:'run']::uuid[], array['b'], array[0], array['2']::jsonb[], '22222222-2222-2222-2222-222222222222', 5
    )),
    0, 'a step with a start delay is not claimed'
);
select is(
    (select row(status, attempts_count) from pgflow.step_tasks where run_id = :'run' and step_slug = 'c'),
    row('queued'::text, 0), 'it is queued as usual'
);

-- a map child of 3 tasks, qty 2: two claimed, one queued and visible
select pgflow.create_flow('ctac_map');
select pgflow.add_step('ctac_map', 'list');
select pgflow.add_step('ctac_map', 'each', array['list'], step_type => 'map');
select pgflow_tests.ensure_worker('ctac_map', '33333333-3333-3333-3333-333333333333');
select run_id as mrun from pgflow.start_flow('ctac_map', '{}') \gset
select count(*) from pgflow_tests.read_and_start('ctac_map', 30, 10, '33333333-3333-3333-3333-333333333333');
select results_eq(
    $$ select task_index, input from pgflow.complete_tasks_and_claim(
           array[$$ || quote_literal(:'mrun') || $$]::uuid[], array['list'], array[0], array['["p", "q", "r"]']::jsonb[],
           '33333333-3333-3333-3333-333333333333', 2) $$,
    $$ values (0, '"p"'::jsonb), (1, '"q"'::jsonb) $$,
    'qty 2 of a map''s 3 tasks: the first two, with their elements'
);
select results_eq(
    $$ select task_index, status from pgflow.step_tasks where run_id = $$ || quote_literal(:'mrun') || $$ and step_slug = 'each' order by task_index $$,
    $$ values (0, 'started'::text), (1, 'started'), (2, 'queued') $$,
    'the third is queued'
);
select is(
    (select array_agg(m.message ->> 'task_index') from pgmq.read('ctac_map', 30, 10) as m), array['2'],
    'and visible'
);

-- another worker's flow, or qty 0: nothing claimed
select pgflow.create_flow('ctac_two');
select pgflow.add_step('ctac_two', 'first');
select pgflow.add_step('ctac_two', 'second', array['first']);
select run_id as trun from pgflow.start_flow('ctac_two', '{}') \gset
select run_id as trun2 from pgflow.start_flow('ctac_two', '{}') \gset
select count(*) from pgflow_tests.read_and_start('ctac_two', 30, 10);
select is(
    (select count(*)::int from pgflow.complete_tasks_and_claim(
        array[:'trun']::uuid[], array['first'], array[0], array['1']::jsonb[],
        '22222222-2222-2222-2222-222222222222', 5
    )),
    0, 'a worker of another flow claims nothing'
);
select is(
    (select count(*)::int from pgflow.complete_tasks_and_claim(
        array[:'trun2']::uuid[], array['first'], array[0], array['1']::jsonb[],
        '11111111-1111-1111-1111-111111111111', 0
    )),
    0, 'qty 0 claims nothing'
);
select is(
    (select count(*)::int from pgflow.step_tasks where flow_slug = 'ctac_two' and step_slug = 'second' and status = 'queued'),
    2, 'both next tasks are queued'
);
select is(
    pgflow_tests.rc_queue_count('ctac_two'), 2, 'with their messages'
);

select * from finish();
rollback;
