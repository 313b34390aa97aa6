begin;
select plan(7);

select pgflow.create_flow('rc_mcr');
select pgflow.add_step('rc_mcr', 'a');
select pgflow.add_step('rc_mcr', 'leaf1', array['a']);
select pgflow.add_step('rc_mcr', 'leaf2', array['a']);

select run_id as run from pgflow.start_flow('rc_mcr', '{}') \gset

select pgflow.maybe_complete_run(:'run');
select is((select status from pgflow.runs where run_id = :'run'), 'started', 'remaining_steps > 0: nothing happens');

-- hand-made end state: a and leaf1 completed, leaf2 skipped
update pgflow.step_states set status = 'completed', started_at = now(), completed_at = now(), remaining_tasks = 0,
    output = '"A"'
where run_id = :'run' and step_slug = 'a';
update pgflow.step_states set status = 'completed', started_at = now(), completed_at = now(), remaining_tasks = 0,
    output = '{"one":1}'
where run_id = :'run' and step_slug = 'leaf1';
update pgflow.step_states set status = 'skipped', skip_reason = 'condition_unmet', skipped_at = now()
where run_id = :'run' and step_slug = 'leaf2';
update pgflow.runs set remaining_steps = 0 where run_id = :'run';

select pgflow.maybe_complete_run(:'run');
select is(
    (select row(status, output, completed_at is not null) from pgflow.runs where run_id = :'run'),
    row('completed'::text, '{"leaf1":{"one":1}}'::jsonb, true),
    'output = completed leaves only (skipped leaf omitted, non-leaf omitted)'
);
select is(
    (select count(*)::int from pgflow_tests.run_events(:'run') where event = 'run:completed'), 1, 'run:completed once'
);
select pgflow.maybe_complete_run(:'run');
select is(
    (select count(*)::int from pgflow_tests.run_events(:'run') where event = 'run:completed'), 1,
    'a second call emits nothing'
);

-- no completed leaf -> NULL output
select run_id as run2 from pgflow.start_flow('rc_mcr', '{}') \gset
update pgflow.step_states set status = 'skipped', skip_reason = 'condition_unmet', skipped_at = now(),
    remaining_tasks = null
where run_id = :'run2';
update pgflow.runs set remaining_steps = 0 where run_id = :'run2';
select pgflow.maybe_complete_run(:'run2');
select is(
    (select row(status, output) from pgflow.runs where run_id = :'run2'), row('completed'::text, null::jsonb),
    'no completed leaf: output NULL'
);

-- a failed run is never completed
select run_id as run3 from pgflow.start_flow('rc_mcr', '{}') \gset
update pgflow.runs set status = 'failed', failed_at = now(), remaining_steps = 0 where run_id = :'run3';
select pgflow.maybe_complete_run(:'run3');
select is((select status from pgflow.runs where run_id = :'run3'), 'failed', 'a failed run stays failed');
select is(
    (select count(*)::int from pgflow_tests.run_events(:'run3') where event = 'run:completed'), 0, 'no event'
);

select * from finish();
rollback;
