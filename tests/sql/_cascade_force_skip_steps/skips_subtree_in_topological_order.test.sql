begin;
select plan(11);

-- diamond a -> (b, c) -> d, plus an unrelated root e
select pgflow.create_flow('cfs_diamond');
select pgflow.add_step('cfs_diamond', 'a');
select pgflow.add_step('cfs_diamond', 'c', array['a']);
select pgflow.add_step('cfs_diamond', 'b', array['a']);
select pgflow.add_step('cfs_diamond', 'd', array['b', 'c']);
select pgflow.add_step('cfs_diamond', 'e');
select r.run_id as run_id from pgflow.start_flow('cfs_diamond', '{}') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('cfs_diamond', 30, 1)), 1, 'a''s task started');
select count(*) as ev from pgflow_tests.run_events(:'run_id') \gset

select is(pgflow._cascade_force_skip_steps(:'run_id', 'a', 'handler_failed'), 4, 'returns the number newly skipped');
select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || coalesce(ss.skip_reason, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'run_id'),
    array['a=skipped/handler_failed', 'b=skipped/dependency_skipped', 'c=skipped/dependency_skipped',
          'd=skipped/dependency_skipped', 'e=started/-'],
    'the named step gets the reason, every descendant dependency_skipped, others untouched'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run_id') with ordinality as e (event, payload, ord) where e.ord > :ev),
    array['step:a:skipped', 'step:c:skipped', 'step:b:skipped', 'step:d:skipped'],
    'one event per step, in topological (step_index) order; d once despite two paths'
);
select is(
    (select pgflow_tests.payload_keys(e.payload) from pgflow_tests.run_events(:'run_id') as e where e.event = 'step:d:skipped'),
    array['event_type', 'flow_slug', 'run_id', 'skip_reason', 'skipped_at', 'status', 'step_slug'],
    'payload keys'
);
select is(
    (select row(e.payload ->> 'event_type', e.payload ->> 'status', e.payload ->> 'skip_reason', e.payload ->> 'flow_slug')::text
     from pgflow_tests.run_events(:'run_id') as e where e.event = 'step:a:skipped'),
    row('step:skipped', 'skipped', 'handler_failed', 'cfs_diamond')::text,
    'payload values'
);
select is(
    (select row(ss.remaining_tasks, ss.skipped_at is not null)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'a'),
    row(null::int, true)::text,
    'a started step loses remaining_tasks and gets skipped_at'
);
select is((select r.remaining_steps from pgflow.runs as r where r.run_id = :'run_id'), 1, 'remaining_steps 5 - 4');
select is(
    (select t.status from pgflow.step_tasks as t where t.run_id = :'run_id' and t.step_slug = 'a'),
    'started',
    'the skipped step''s task keeps its status'
);
select is(
    (select array_agg(t.step_slug order by t.step_slug) from pgflow_tests.queue_messages('cfs_diamond') as q
     inner join pgflow.step_tasks as t on t.message_id = q.msg_id),
    array['e'],
    'the skipped step''s message is archived, the unrelated one stays'
);
select is(
    (select r.status from pgflow.runs as r where r.run_id = :'run_id'), 'started', 'the run status is not touched'
);

select * from finish();
rollback;
