begin;
select plan(10);

select pgflow.create_flow('ft_skipmap', max_attempts => 1);
select pgflow.add_step('ft_skipmap', 'fan', step_type => 'map', when_exhausted => 'skip');
select pgflow.add_step('ft_skipmap', 'after', array['fan']);
select r.run_id as run_id from pgflow.start_flow('ft_skipmap', '["x", "y", "z"]') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('ft_skipmap', 1, 2)), 2, 'two map tasks started');
select count(*) as events_before from pgflow_tests.run_events(:'run_id') \gset

select is((select t.status from pgflow.fail_task(:'run_id', 'fan', 1, 'y broke') as t), 'failed', 'task 1 exhausted');
select is(
    (select row(ss.status, ss.skip_reason, ss.remaining_tasks)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'fan'),
    row('skipped', 'handler_failed', null::int)::text,
    'the map step is skipped'
);
select is(
    (select array_agg(t.status order by t.task_index) from pgflow.step_tasks as t
     where t.run_id = :'run_id' and t.step_slug = 'fan'),
    array['started', 'failed', 'queued'],
    'sibling tasks keep their status'
);
select is(
    (select count(*)::int from pgflow_tests.queue_messages('ft_skipmap') as q
     inner join pgflow.step_tasks as t on t.message_id = q.msg_id
     where t.run_id = :'run_id' and t.step_slug = 'fan'),
    0,
    'no message of the skipped map step is left in the queue (started and queued siblings archived)'
);
select is(
    (select row(ss.status, ss.remaining_deps)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'after'),
    row('started', 0)::text,
    'the dependent single step starts'
);
select is(
    (select count(*)::int from pgflow_tests.queue_messages('ft_skipmap')), 1, 'only the dependent''s message is queued'
);

-- a sibling reporting after the skip is a late callback
select is(
    (select t.status from pgflow.fail_task(:'run_id', 'fan', 0, 'x broke') as t), 'started', 'late sibling: row unchanged'
);
select is(
    (select r.remaining_steps from pgflow.runs as r where r.run_id = :'run_id'), 1, 'remaining_steps decremented once'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run_id') with ordinality as e (event, payload, ord)
     where e.ord > :events_before),
    array['step:fan:skipped', 'step:after:started'],
    'one skip event, then the dependent starts'
);

select * from finish();
rollback;
