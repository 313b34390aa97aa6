begin;
select plan(11);

select pgflow.create_flow('ft_cascade', max_attempts => 1);
select pgflow.add_step('ft_cascade', 'a', when_exhausted => 'skip-cascade');
select pgflow.add_step('ft_cascade', 'b', array['a']);
select pgflow.add_step('ft_cascade', 'c', array['b']);
select pgflow.add_step('ft_cascade', 'd');
select r.run_id as run_id from pgflow.start_flow('ft_cascade', '{}') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('ft_cascade', 1, 10)), 2, 'a and d started');
select count(*) as events_before from pgflow_tests.run_events(:'run_id') \gset

select is((select t.status from pgflow.fail_task(:'run_id', 'a', 0, 'gone') as t), 'failed', 'a''s task exhausted');
select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || coalesce(ss.skip_reason, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'run_id'),
    array['a=skipped/handler_failed', 'b=skipped/dependency_skipped', 'c=skipped/dependency_skipped', 'd=started/-'],
    'a skipped by its handler, b and c skipped as dependents, d untouched'
);
select is(
    (select ss.error_message from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'a'),
    'gone',
    'a keeps the error message'
);
select is(
    (select row(r.status, r.remaining_steps)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('started', 1)::text,
    'three steps skipped: remaining_steps 4 - 3 = 1'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run_id') with ordinality as e (event, payload, ord)
     where e.ord > :events_before),
    array['step:a:skipped', 'step:b:skipped', 'step:c:skipped'],
    'events in topological order, each once'
);
select is(
    (select pgflow_tests.payload_keys(e.payload) from pgflow_tests.run_events(:'run_id') as e
     where e.event = 'step:b:skipped'),
    array['event_type', 'flow_slug', 'run_id', 'skip_reason', 'skipped_at', 'status', 'step_slug'],
    'descendant events carry the cascade payload'
);
select is(
    (select count(*)::int from pgflow_tests.queue_messages('ft_cascade') as q
     inner join pgflow.step_tasks as t on t.message_id = q.msg_id where t.step_slug <> 'd'),
    0,
    'no message of the skipped steps is left'
);

-- when the cascade covers every remaining step, the run completes with no output
select pgflow.create_flow('ft_cascade_all', max_attempts => 1);
select pgflow.add_step('ft_cascade_all', 'a', when_exhausted => 'skip-cascade');
select pgflow.add_step('ft_cascade_all', 'b', array['a']);
select r.run_id as run2 from pgflow.start_flow('ft_cascade_all', '{}') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('ft_cascade_all', 1, 10)), 1, 'a started');
select pgflow.fail_task(:'run2', 'a', 0, 'gone');
select is(
    (select row(r.status, r.remaining_steps, r.output)::text from pgflow.runs as r where r.run_id = :'run2'),
    row('completed', 0, null::jsonb)::text,
    'the run completes with output NULL'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run2') with ordinality as e (event, payload, ord)
     where e.event not like '%:started'),
    array['step:a:skipped', 'step:b:skipped', 'run:completed'],
    'skip events, then run:completed'
);

select * from finish();
rollback;
