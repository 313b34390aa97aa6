begin;
select plan(14);

select pgflow.create_flow('ft_skip', max_attempts => 1);
select pgflow.add_step('ft_skip', 'a', when_exhausted => 'skip');
select pgflow.add_step('ft_skip', 'b', array['a']);
select pgflow.add_step('ft_skip', 'm', array['a'], step_type => 'map');
select r.run_id as run_id from pgflow.start_flow('ft_skip', '{}') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('ft_skip', 1, 10)), 1, 'a started');
select count(*) as events_before from pgflow_tests.run_events(:'run_id') \gset

select is(
    (select row(t.status, t.error_message)::text from pgflow.fail_task(:'run_id', 'a', 0, 'nope') as t),
    row('failed', 'nope')::text,
    'the task is failed'
);
select is(
    (select row(ss.status, ss.skip_reason, ss.error_message, ss.remaining_tasks, ss.failed_at, ss.skipped_at is not null)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'a'),
    row('skipped', 'handler_failed', 'nope', null::int, null::timestamptz, true)::text,
    'step skipped: handler_failed, error_message kept, remaining_tasks and failed_at NULL'
);
select is(
    (select row(ss.status, ss.remaining_deps, ss.initial_tasks, ss.output)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'm'),
    row('completed', 0, 0, '[]'::jsonb)::text,
    'the map child (one dependency) gets initial_tasks 0 and completes taskless with []'
);
select is(
    (select row(ss.status, ss.remaining_deps)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'b'),
    row('started', 0)::text,
    'the single child is unblocked and started'
);
select is(
    (select row(r.status, r.remaining_steps)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('started', 1)::text,
    'remaining_steps: 3 - a skipped - m completed = 1'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run_id') with ordinality as e (event, payload, ord)
     where e.ord > :events_before),
    array['step:a:skipped', 'step:m:completed', 'step:b:started'],
    'events: the skip, then the taskless child, then the started child'
);
select is(
    (select pgflow_tests.payload_keys(e.payload) from pgflow_tests.run_events(:'run_id') as e
     where e.event = 'step:a:skipped'),
    array['error_message', 'event_type', 'run_id', 'skip_reason', 'skipped_at', 'status', 'step_slug'],
    'fail_task step:skipped payload: no flow_slug, adds error_message'
);
select is(
    (select row(e.payload ->> 'event_type', e.payload ->> 'status', e.payload ->> 'skip_reason',
                e.payload ->> 'error_message')::text
     from pgflow_tests.run_events(:'run_id') as e where e.event = 'step:a:skipped'),
    row('step:skipped', 'skipped', 'handler_failed', 'nope')::text,
    'step:skipped payload values'
);
select is(
    (select t.input from pgflow_tests.read_and_start('ft_skip', 1, 10) as t where t.step_slug = 'b'),
    '{}'::jsonb,
    'the child''s input omits the skipped dependency'
);
select is((select count(*)::int from pgflow_tests.archived_msg_ids('ft_skip')), 1, 'the failed task''s message is archived');

-- replaying the same failure: a late callback, nothing is decremented twice
select is(
    (select t.status from pgflow.fail_task(:'run_id', 'a', 0, 'nope again') as t), 'failed', 'replay returns the row'
);
select is(
    (select r.remaining_steps from pgflow.runs as r where r.run_id = :'run_id'), 1, 'no double decrement'
);
select is(
    (select t.error_message from pgflow.step_tasks as t where t.run_id = :'run_id' and t.step_slug = 'a'),
    'nope',
    'the replay changes nothing'
);

select * from finish();
rollback;
