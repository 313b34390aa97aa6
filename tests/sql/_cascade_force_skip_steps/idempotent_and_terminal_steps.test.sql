begin;
select plan(7);

select pgflow.create_flow('cfs_chain');
select pgflow.add_step('cfs_chain', 'a');
select pgflow.add_step('cfs_chain', 'b', array['a']);
select pgflow.add_step('cfs_chain', 'c', array['b']);
select r.run_id as run_id from pgflow.start_flow('cfs_chain', '{}') as r \gset
select pgflow_tests.read_and_start('cfs_chain', 30, 10);
select pgflow.complete_task(:'run_id', 'a', 0, '"done"');
select count(*) as ev from pgflow_tests.run_events(:'run_id') \gset

select is(
    pgflow._cascade_force_skip_steps(:'run_id', 'a', 'condition_unmet'), 2, 'a terminal named step is left as it is'
);
select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || coalesce(ss.skip_reason, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'run_id'),
    array['a=completed/-', 'b=skipped/dependency_skipped', 'c=skipped/dependency_skipped'],
    'its started and created descendants are skipped'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run_id') with ordinality as e (event, payload, ord) where e.ord > :ev),
    array['step:b:skipped', 'step:c:skipped'],
    'B then C'
);
select count(*) as ev2 from pgflow_tests.run_events(:'run_id') \gset
select row(r.remaining_steps, r.status) as run_state from pgflow.runs as r where r.run_id = :'run_id' \gset

select is(pgflow._cascade_force_skip_steps(:'run_id', 'a', 'condition_unmet'), 0, 'a second call skips nothing');
select is((select count(*)::int from pgflow_tests.run_events(:'run_id')), :ev2, 'and emits nothing');
select is(
    (select row(r.remaining_steps, r.status)::text from pgflow.runs as r where r.run_id = :'run_id'),
    :'run_state',
    'and decrements nothing'
);

select throws_ok(
    $$ select pgflow._cascade_force_skip_steps('00000000-0000-0000-0000-0000000000ff', 'a', 'condition_unmet') $$,
    'P0001',
    'Run not found: 00000000-0000-0000-0000-0000000000ff',
    'an unknown run raises'
);

select * from finish();
rollback;
