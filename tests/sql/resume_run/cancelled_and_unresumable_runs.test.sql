-- resume_run of a cancelled run: the cancelled started step runs again, the step cancelled before
-- it started starts when its dependency completes. Started and completed runs are returned
-- unchanged; an unknown run raises an error that names it. A step failed by an unmet condition
-- is evaluated again (and fails again).
begin;
select plan(12);

select pgflow.create_flow('rc_resume_cancel');
select pgflow.add_step('rc_resume_cancel', 'first');
select pgflow.add_step('rc_resume_cancel', 'second', deps_slugs => array['first']);
select r.run_id as run_id from pgflow.start_flow('rc_resume_cancel', '{}') as r \gset
select pgflow_tests.rc_start_all(:'run_id');
select is((pgflow.cancel_run(:'run_id')).status, 'cancelled', 'cancelled while first runs');

select is((pgflow.resume_run(:'run_id')).status, 'started', 'resumed');
select is(
    (select r.cancelled_at from pgflow.runs as r where r.run_id = :'run_id'), null, 'cancelled_at is cleared'
);
select is(
    (select array_agg(ss.step_slug || ':' || ss.status || ':' || coalesce(ss.remaining_tasks::text, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'run_id'),
    array['first:started:1', 'second:created:-'],
    'first is started again, second is created again'
);
select is(pgflow_tests.rc_run_step(:'run_id', 'first', '1'), 1, 'first completes');
select is(pgflow_tests.rc_run_step(:'run_id', 'second', '2'), 1, 'second starts and completes');
select is(
    (select row(r.status, r.output)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('completed', '{"second": 2}'::jsonb)::text,
    'the run completes'
);
select pgflow_tests.rctl_snapshot(:'run_id') as snap \gset
select is((pgflow.resume_run(:'run_id')).status, 'completed', 'a completed run is returned as it is');
select is(pgflow_tests.rctl_snapshot(:'run_id'), :'snap'::jsonb, '... unchanged');

select r.run_id as live_id from pgflow.start_flow('rc_resume_cancel', '{}') as r \gset
select pgflow_tests.rctl_snapshot(:'live_id') as live_snap \gset
select is(pgflow_tests.rctl_snapshot(:'live_id'), (select pgflow_tests.rctl_snapshot((pgflow.resume_run(:'live_id')).run_id)),
    'a started run is returned unchanged');

-- a root step failed by its condition is evaluated again on resume, and fails again
select pgflow.create_flow('rc_resume_cond');
select pgflow.add_step('rc_resume_cond', 'gated', required_input_pattern => '{"go": true}', when_unmet => 'fail');
select r.run_id as cond_id from pgflow.start_flow('rc_resume_cond', '{"go": false}') as r \gset
select is(
    (select row(r.status, ss.status)::text
     from pgflow.resume_run(:'cond_id') as r
     inner join pgflow.step_states as ss on ss.run_id = r.run_id),
    row('failed', 'failed')::text,
    'a condition that still fails fails the run again'
);

select throws_ok(
    $$select pgflow.resume_run('00000000-0000-0000-0000-00000000dead')$$,
    'P0002',
    'Run 00000000-0000-0000-0000-00000000dead not found',
    'an unknown run raises an error naming it'
);

select * from finish();
rollback;
