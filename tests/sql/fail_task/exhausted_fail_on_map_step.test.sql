begin;
select plan(12);

select pgflow.create_flow('ft_mapfail', max_attempts => 1);
select pgflow.add_step('ft_mapfail', 'items', step_type => 'map');
select r.run_id as run_id from pgflow.start_flow('ft_mapfail', '[10, 20, 30]') as r \gset

select is((select count(*)::int from pgflow_tests.read_and_start('ft_mapfail', 1, 2)), 2, 'two of three map tasks started');
select is(
    (select array_agg(t.status order by t.task_index) from pgflow.step_tasks as t where t.run_id = :'run_id'),
    array['started', 'started', 'queued'],
    'tasks 0 and 1 started, task 2 queued'
);

select is(
    (select t.status from pgflow.fail_task(:'run_id', 'items', 0, 'bad element') as t), 'failed', 'task 0 exhausted'
);
select is(
    (select row(ss.status, ss.error_message, ss.remaining_tasks)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'items'),
    row('failed', 'bad element', 3)::text,
    'the map step is failed'
);
select is((select r.status from pgflow.runs as r where r.run_id = :'run_id'), 'failed', 'the run is failed');
select is(
    (select array_agg(t.status order by t.task_index) from pgflow.step_tasks as t where t.run_id = :'run_id'),
    array['failed', 'started', 'queued'],
    'sibling tasks keep their status'
);
select is((select count(*)::int from pgflow_tests.queue_messages('ft_mapfail')), 0, 'every sibling message is gone from the queue');
select is((select count(*)::int from pgflow_tests.archived_msg_ids('ft_mapfail')), 3, 'all three messages are archived');

-- a sibling's failure arriving after the run failed: the task is failed, nothing else happens
select is(
    (select row(t.status, t.error_message)::text from pgflow.fail_task(:'run_id', 'items', 1, 'late') as t),
    row('failed', 'late')::text,
    'a started sibling reported after the run failed is marked failed (no retry)'
);
select is(
    (select t.status from pgflow.fail_task(:'run_id', 'items', 2, 'late queued') as t),
    'queued',
    'a queued sibling reported after the run failed stays queued'
);
select is(
    (select ss.error_message from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'items'),
    'bad element',
    'the step keeps the first error'
);
select is(
    (select count(*)::int from pgflow_tests.run_events(:'run_id') as e where e.event in ('run:failed', 'step:items:failed')),
    2,
    'one step:failed and one run:failed in all'
);

select * from finish();
rollback;
