begin;
select plan(8);

select pgflow.create_flow('crc_dep');
select pgflow.add_step('crc_dep', 'src');
select pgflow.add_step('crc_dep', 'opt', array['src'], required_input_pattern => '{"src": {"go": true}}');
select pgflow.add_step('crc_dep', 'guard', array['opt'], forbidden_input_pattern => '{"opt": {}}');
select pgflow.add_step('crc_dep', 'needs', array['opt'], required_input_pattern => '{"opt": {}}');

-- src says no: opt is skipped; then ifNot {"opt": {}} is met (opt absent) and if {"opt": {}} is not
select r.run_id as no_run from pgflow.start_flow('crc_dep', '{}') as r \gset
select pgflow_tests.read_and_start('crc_dep', 30, 10);
select count(*) as ev from pgflow_tests.run_events(:'no_run') \gset
select pgflow.complete_task(:'no_run', 'src', 0, '{"go": false}');
select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || coalesce(ss.skip_reason, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'no_run'),
    array['guard=started/-', 'needs=skipped/condition_unmet', 'opt=skipped/condition_unmet', 'src=completed/-'],
    'the deps object {src: output} decides opt; ifNot {"opt": {}} is met when opt was skipped'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'no_run') with ordinality as e (event, payload, ord) where e.ord > :ev),
    array['step:src:completed', 'step:opt:skipped', 'step:needs:skipped', 'step:guard:started'],
    'waves in order: the parent, its skipped child, the grandchild evaluated next pass, then the start'
);
select is(
    (select r.remaining_steps from pgflow.runs as r where r.run_id = :'no_run'), 1, 'only guard remains'
);

-- src says yes: opt runs, and its output decides the grandchildren
select r.run_id as yes_run from pgflow.start_flow('crc_dep', '{}') as r \gset
select pgflow_tests.read_and_start('crc_dep', 30, 10);
select pgflow.complete_task(:'yes_run', 'src', 0, '{"go": true, "extra": 1}');
select is(
    (select ss.status from pgflow.step_states as ss where ss.run_id = :'yes_run' and ss.step_slug = 'opt'),
    'started',
    'a deps object that contains the pattern (plus more) meets it'
);
select pgflow_tests.read_and_start('crc_dep', 30, 10);
select pgflow.complete_task(:'yes_run', 'opt', 0, '{"x": 1}');
select is(
    (select array_agg(ss.step_slug || '=' || ss.status order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'yes_run'),
    array['guard=skipped', 'needs=started', 'opt=completed', 'src=completed'],
    'with opt completed, ifNot {"opt": {}} is unmet and if {"opt": {}} is met'
);

-- the value is built from COMPLETED deps only
select pgflow.create_flow('crc_dep_partial');
select pgflow.add_step('crc_dep_partial', 'a');
select pgflow.add_step('crc_dep_partial', 'b', required_input_pattern => '{"never": true}');
select pgflow.add_step('crc_dep_partial', 'c', array['a', 'b'], required_input_pattern => '{"a": 1}');
select pgflow.add_step('crc_dep_partial', 'd', array['a', 'b'], forbidden_input_pattern => '{"b": null}');
select r.run_id as part from pgflow.start_flow('crc_dep_partial', '{}') as r \gset
select pgflow_tests.read_and_start('crc_dep_partial', 30, 10);
select pgflow.complete_task(:'part', 'a', 0, '1');
select is(
    (select array_agg(ss.step_slug || '=' || ss.status order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'part'),
    array['a=completed', 'b=skipped', 'c=started', 'd=started'],
    'value {a: 1}: a skipped parent is neither present nor null'
);
select is(
    (select t.input from pgflow_tests.read_and_start('crc_dep_partial', 30, 10) as t where t.step_slug = 'c'),
    '{"a": 1}'::jsonb,
    'c runs with the completed dependency only'
);

-- a completed dependency with a NULL output is present as JSON null
select pgflow.create_flow('crc_dep_null');
select pgflow.add_step('crc_dep_null', 'p');
select pgflow.add_step('crc_dep_null', 'q', array['p'], required_input_pattern => '{"p": null}');
select r.run_id as nul from pgflow.start_flow('crc_dep_null', '{}') as r \gset
select pgflow_tests.read_and_start('crc_dep_null', 30, 10);
select pgflow.complete_task(:'nul', 'p', 0, null);
select is(
    (select ss.status from pgflow.step_states as ss where ss.run_id = :'nul' and ss.step_slug = 'q'),
    'started',
    'a NULL output counts as {"p": null}'
);

select * from finish();
rollback;
