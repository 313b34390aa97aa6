-- retry_run starts a new run of a failed or cancelled run's flow with its input, links it to the
-- old run (get_run_with_states shows the link both ways), and returns the same retry when called
-- again; started, completed and unknown runs raise errors that say why.
begin;
select plan(15);

select pgflow.create_flow('rc_retry', max_attempts => 1);
select pgflow.add_step('rc_retry', 'only');
select r.run_id as failed_id from pgflow.start_flow('rc_retry', '{"k": 1}') as r \gset
select pgflow_tests.rc_start_all(:'failed_id');
select pgflow.fail_task(:'failed_id', 'only', 0, 'boom');
select pgflow_tests.rctl_snapshot(:'failed_id') as failed_snap \gset

select r.run_id as retry_id from pgflow.retry_run(:'failed_id') as r \gset
select isnt(:'retry_id'::uuid, :'failed_id'::uuid, 'retry_run returns a new run');
select is(
    (select row(r.flow_slug, r.input, r.status, r.retry_of_run_id)::text from pgflow.runs as r where r.run_id = :'retry_id'),
    row('rc_retry', '{"k": 1}'::jsonb, 'started', :'failed_id'::uuid)::text,
    'same flow and input, started, linked to the old run'
);
select is(
    (select array_agg(ss.step_slug || ':' || ss.status) from pgflow.step_states as ss where ss.run_id = :'retry_id'),
    array['only:started'],
    'the new run is scheduled as start_flow schedules it'
);
select is(pgflow_tests.rctl_visible(:'retry_id'), 1, 'its task message is visible');
select is(
    (select array_agg(e.event) from pgflow_tests.run_events(:'retry_id') as e),
    array['run:started', 'step:only:started'],
    'the new run''s events'
);
select is(
    pgflow_tests.rctl_snapshot(:'failed_id') - 'run', :'failed_snap'::jsonb - 'run',
    'the old run''s steps, tasks, messages and events are untouched'
);
select is(
    pgflow.get_run_with_states(:'failed_id') -> 'run' ->> 'retried_by_run_id', :'retry_id',
    'get_run_with_states: the old run names its retry'
);
select is(
    pgflow.get_run_with_states(:'retry_id') -> 'run' ->> 'retry_of_run_id', :'failed_id',
    'get_run_with_states: the retry names the run it retries'
);
select ok(
    not (pgflow.get_run_with_states(:'retry_id') -> 'run') ? 'retried_by_run_id',
    'get_run_with_states: a run not retried has no retried_by_run_id'
);
select is((pgflow.retry_run(:'failed_id')).run_id, :'retry_id'::uuid, 'retrying it again returns the same retry');
select is(
    (select count(*)::int from pgflow.runs as r where r.flow_slug = 'rc_retry'), 2, '... and starts nothing'
);

-- a cancelled run can be retried
select r.run_id as cancelled_id from pgflow.start_flow('rc_retry', '{"k": 2}') as r \gset
select pgflow.cancel_run(:'cancelled_id');
select is(
    (select row(r.input, r.retry_of_run_id)::text from pgflow.retry_run(:'cancelled_id') as r),
    row('{"k": 2}'::jsonb, :'cancelled_id'::uuid)::text,
    'a cancelled run is retried'
);

select throws_ok(
    format('select pgflow.retry_run(%L)', :'retry_id'),
    '55000',
    format('Run %s is started: only a failed or cancelled run can be retried', :'retry_id'),
    'a started run cannot be retried'
);
select pgflow_tests.rc_run_step(:'retry_id', 'only', '1');
select throws_ok(
    format('select pgflow.retry_run(%L)', :'retry_id'),
    '55000',
    format('Run %s is completed: only a failed or cancelled run can be retried', :'retry_id'),
    'a completed run cannot be retried'
);
select throws_ok(
    $$select pgflow.retry_run('00000000-0000-0000-0000-00000000dead')$$,
    'P0002',
    'Run 00000000-0000-0000-0000-00000000dead not found',
    'an unknown run raises an error naming it'
);

select * from finish();
rollback;
