begin;
select plan(5);

select pgflow.create_flow('rc_grws');
select pgflow.add_step('rc_grws', 'a');
select pgflow.add_step('rc_grws', 'b', array['a']);
select run_id as run from pgflow.start_flow('rc_grws', '{"x":1}') \gset

select is(
    pgflow.get_run_with_states(:'run') -> 'run',
    (select to_jsonb(r) - 'cancelled_at' - 'retry_of_run_id' from pgflow.runs as r where r.run_id = :'run'),
    '"run" is the runs row as JSON (without the run control columns, NULL for a run that never used them)'
);
select is(
    (select array_agg(e ->> 'step_slug' order by e ->> 'step_slug')
     from jsonb_array_elements(pgflow.get_run_with_states(:'run') -> 'steps') as e),
    array['a', 'b'], '"steps" holds every step state'
);
select is(
    (select e from jsonb_array_elements(pgflow.get_run_with_states(:'run') -> 'steps') as e
     where e ->> 'step_slug' = 'a'),
    (select to_jsonb(ss) from pgflow.step_states as ss where ss.run_id = :'run' and ss.step_slug = 'a'),
    'each step is the step_states row as JSON'
);
select is(pgflow.get_run_with_states(gen_random_uuid()), null::jsonb, 'unknown run: NULL');

select pgflow.create_flow('rc_grws_empty');
select run_id as run2 from pgflow.start_flow('rc_grws_empty', '{}') \gset
select is(pgflow.get_run_with_states(:'run2') -> 'steps', '[]'::jsonb, 'no steps: []');

select * from finish();
rollback;
