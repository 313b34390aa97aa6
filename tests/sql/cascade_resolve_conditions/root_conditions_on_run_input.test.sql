begin;
select plan(13);

select pgflow.create_flow('crc_root');
select pgflow.add_step('crc_root', 'premium', required_input_pattern => '{"plan": "pro"}');
select pgflow.add_step('crc_root', 'free_only', forbidden_input_pattern => '{"plan": "pro"}');
select pgflow.add_step(
    'crc_root', 'both', required_input_pattern => '{"ok": true}', forbidden_input_pattern => '{"plan": "pro"}'
);
select pgflow.add_step('crc_root', 'after', array['premium']);
select pgflow.add_step('crc_root', 'fan', array['premium'], step_type => 'map');

-- pro: the if-step runs, the ifNot-steps are skipped
select r.run_id as pro from pgflow.start_flow('crc_root', '{"plan": "pro", "ok": true}') as r \gset
select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || coalesce(ss.skip_reason, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'pro'),
    array['after=created/-', 'both=skipped/condition_unmet', 'fan=created/-', 'free_only=skipped/condition_unmet',
          'premium=started/-'],
    'required pattern contained -> runs; forbidden pattern contained -> skipped (condition_unmet)'
);
select is(
    (select r.remaining_steps from pgflow.runs as r where r.run_id = :'pro'), 3, 'remaining_steps 5 - 2 skipped'
);
select is(
    (select count(*)::int from pgflow.step_tasks as t where t.run_id = :'pro'), 1, 'skipped steps get no tasks'
);

-- free: the if-step is skipped and unblocks its children
select r.run_id as free from pgflow.start_flow('crc_root', '{"plan": "free", "ok": true}') as r \gset
select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || coalesce(ss.skip_reason, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'free'),
    array['after=started/-', 'both=started/-', 'fan=completed/-', 'free_only=started/-', 'premium=skipped/condition_unmet'],
    'an unmet required pattern skips; a met forbidden pattern runs; both patterns must hold'
);
select is(
    (select row(ss.remaining_deps, ss.initial_tasks, ss.output)::text
     from pgflow.step_states as ss where ss.run_id = :'free' and ss.step_slug = 'fan'),
    row(0, 0, '[]'::jsonb)::text,
    'the map child of the skipped step gets initial_tasks 0 and completes with []'
);
select is(
    (select ss.remaining_deps from pgflow.step_states as ss where ss.run_id = :'free' and ss.step_slug = 'after'),
    0,
    'the single child''s remaining_deps is decremented'
);
select is(
    (select r.remaining_steps from pgflow.runs as r where r.run_id = :'free'), 3, 'remaining_steps 5 - skipped - taskless'
);
select is(
    (select e.ord from pgflow_tests.run_events(:'free') with ordinality as e (event, payload, ord)
     where e.event = 'step:premium:skipped')
    < (select e.ord from pgflow_tests.run_events(:'free') with ordinality as e (event, payload, ord)
       where e.event = 'step:after:started'),
    true,
    'the skip event precedes the events of the children it unblocks'
);
select is(
    (select pgflow_tests.payload_keys(e.payload) from pgflow_tests.run_events(:'free') as e
     where e.event = 'step:premium:skipped'),
    array['event_type', 'flow_slug', 'run_id', 'skip_reason', 'skipped_at', 'status', 'step_slug'],
    'condition step:skipped payload keys'
);
select is(
    (select row(e.payload ->> 'event_type', e.payload ->> 'status', e.payload ->> 'skip_reason',
                e.payload ->> 'flow_slug', e.payload ->> 'step_slug')::text
     from pgflow_tests.run_events(:'free') as e where e.event = 'step:premium:skipped'),
    row('step:skipped', 'skipped', 'condition_unmet', 'crc_root', 'premium')::text,
    'condition step:skipped payload values'
);
select is(
    (select count(*)::int from pgflow_tests.run_events(:'free') as e where e.event like '%:skipped'),
    1,
    'one skip event'
);
select is(
    (select t.input from pgflow_tests.read_and_start('crc_root', 30, 20) as t where t.run_id = :'free' and t.step_slug = 'after'),
    '{}'::jsonb,
    'the child runs without the skipped dependency in its input'
);

select is(pgflow.cascade_resolve_conditions(gen_random_uuid()), true, 'an unknown run has nothing to resolve: true');

select * from finish();
rollback;
