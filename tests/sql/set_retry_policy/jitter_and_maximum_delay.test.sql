-- Retry delays: the contract's formula stays the default; set_retry_policy opts a flow or a step
-- into a maximum delay and jitter (the step's overriding the flow's), which fail_task applies;
-- NULL clears; bad values and names raise.
begin;
select plan(16);

select pgflow.create_flow('rc_policy', max_attempts => 10, base_delay => 10);
select pgflow.add_step('rc_policy', 'plain');
select pgflow.add_step('rc_policy', 'tuned');

select is(pgflow._retry_delay('rc_policy', 'plain', 10, 3), 80, 'no options: the contract''s floor(10 * 2^3)');
select is(
    pgflow._retry_delay('rc_policy', 'plain', 10, 3), pgflow.calculate_retry_delay(10, 3),
    '... exactly calculate_retry_delay'
);

select pgflow.set_retry_policy('rc_policy', max_retry_delay => 30);
select is(
    (select row(f.opt_retry_jitter, f.opt_max_retry_delay)::text from pgflow.flows as f where f.flow_slug = 'rc_policy'),
    row(null::numeric, 30)::text,
    'the flow''s options are stored'
);
select is(pgflow._retry_delay('rc_policy', 'plain', 10, 3), 30, 'a flow maximum caps the delay');
select is(pgflow._retry_delay('rc_policy', 'plain', 10, 1), 20, '... and leaves shorter delays alone');
select is(pgflow._retry_delay('rc_policy', 'plain', 10, 40), 30, '... and cannot overflow for many attempts');

select pgflow.set_retry_policy('rc_policy', 'tuned', max_retry_delay => 5);
select is(pgflow._retry_delay('rc_policy', 'tuned', 10, 3), 5, 'a step''s maximum overrides its flow''s');

-- jitter: a random value in [d * (1 - j), d]
select pgflow.set_retry_policy('rc_policy', 'tuned', retry_jitter => 0.5);
select setseed(0.25);
create temp table samples on commit drop as
select pgflow._retry_delay('rc_policy', 'tuned', 10, 1) as d from generate_series(1, 200);
select ok((select min(s.d) >= 10 and max(s.d) <= 20 from samples as s), 'jitter 0.5 of 20 s: every delay in [10, 20]');
select ok((select count(distinct s.d) > 5 from samples as s), 'jittered delays differ');

-- fail_task applies it
select r.run_id as run_id from pgflow.start_flow('rc_policy', '{}') as r \gset
select pgflow_tests.rc_start_all(:'run_id');
select pgflow.fail_task(:'run_id', 'plain', 0, 'boom');
select is(pgflow_tests.task_vt_in(:'run_id', 'plain'), 20, 'fail_task: first retry of plain after floor(10 * 2^1) = 20 s');
select pgflow.set_retry_policy('rc_policy');
select pgflow_tests.rc_start_all(:'run_id');
select pgflow.set_retry_policy('rc_policy', max_retry_delay => 3);
select pgflow.fail_task(:'run_id', 'plain', 0, 'boom');
select is(pgflow_tests.task_vt_in(:'run_id', 'plain'), 3, 'fail_task: with the flow maximum of 3 s, 3 s');

select pgflow.set_retry_policy('rc_policy');
select is(pgflow._retry_delay('rc_policy', 'plain', 10, 3), 80, 'NULL options clear the flow''s');

select throws_ok(
    $$select pgflow.set_retry_policy('rc_policy', retry_jitter => 1.5)$$,
    '22023', 'retry_jitter must be between 0 and 1 (got 1.5)', 'jitter above 1 is refused'
);
select throws_ok(
    $$select pgflow.set_retry_policy('rc_policy', max_retry_delay => -1)$$,
    '22023', 'max_retry_delay must be >= 0 (got -1)', 'a negative maximum is refused'
);
select throws_ok(
    $$select pgflow.set_retry_policy('rc_no_flow')$$, 'P0002', 'Flow rc_no_flow does not exist', 'an unknown flow'
);
select throws_ok(
    $$select pgflow.set_retry_policy('rc_policy', 'nope', max_retry_delay => 1)$$,
    'P0002', 'Step nope does not exist in flow rc_policy', 'an unknown step'
);

select * from finish();
rollback;
