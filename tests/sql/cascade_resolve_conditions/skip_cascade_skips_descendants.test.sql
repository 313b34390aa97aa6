begin;
select plan(9);

select pgflow.create_flow('crc_cascade');
select pgflow.add_step('crc_cascade', 'a', required_input_pattern => '{"run_a": true}', when_unmet => 'skip-cascade');
select pgflow.add_step('crc_cascade', 'b', array['a']);
select pgflow.add_step('crc_cascade', 'c', array['b']);
select pgflow.add_step('crc_cascade', 'x');
select r.run_id as run_id from pgflow.start_flow('crc_cascade', '{}') as r \gset

select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || coalesce(ss.skip_reason, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'run_id'),
    array['a=skipped/condition_unmet', 'b=skipped/dependency_skipped', 'c=skipped/dependency_skipped', 'x=started/-'],
    'the unmet step and its descendants are skipped'
);
select is(
    pgflow_tests.event_names(:'run_id'),
    array['run:started', 'step:a:skipped', 'step:b:skipped', 'step:c:skipped', 'step:x:started'],
    'A, B, C in topological order, each once, before the start of the rest'
);
select is((select r.remaining_steps from pgflow.runs as r where r.run_id = :'run_id'), 1, 'remaining_steps 4 - 3');
select is(
    (select row(ss.remaining_deps, ss.remaining_tasks)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'c'),
    row(1, null::int)::text,
    'descendants keep remaining_deps (nothing waits on them any more)'
);

-- everything skipped: the run completes at once with output NULL
select pgflow.create_flow('crc_cascade_all');
select pgflow.add_step('crc_cascade_all', 'a', required_input_pattern => '{"run_a": true}', when_unmet => 'skip-cascade');
select pgflow.add_step('crc_cascade_all', 'b', array['a']);
select r.run_id as all_run, r.status as all_status from pgflow.start_flow('crc_cascade_all', '{}') as r \gset
select is(:'all_status'::text, 'completed', 'start_flow returns a completed run');
select is(
    (select row(r.remaining_steps, r.output)::text from pgflow.runs as r where r.run_id = :'all_run'),
    row(0, null::jsonb)::text,
    'output NULL: no completed leaf'
);

-- a skip unblocks a skip-cascade step in the same pass
select pgflow.create_flow('crc_mixed');
select pgflow.add_step('crc_mixed', 's1', required_input_pattern => '{"go": true}');
select pgflow.add_step('crc_mixed', 's2', array['s1'], required_input_pattern => '{"s1": {}}', when_unmet => 'skip-cascade');
select pgflow.add_step('crc_mixed', 's3', array['s2']);
select r.run_id as mixed from pgflow.start_flow('crc_mixed', '{}') as r \gset
select is(
    (select array_agg(ss.step_slug || '=' || ss.skip_reason order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'mixed'),
    array['s1=condition_unmet', 's2=condition_unmet', 's3=dependency_skipped'],
    'skip, then skip-cascade of the unblocked child'
);
select is(
    pgflow_tests.event_names(:'mixed'),
    array['run:started', 'step:s1:skipped', 'step:s2:skipped', 'step:s3:skipped', 'run:completed'],
    'events in topological order, then run:completed'
);
select is(pgflow.cascade_resolve_conditions(:'mixed'), true, 'on a completed run it returns true');

select * from finish();
rollback;
