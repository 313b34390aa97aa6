-- fail_task_with_delay: fail_task's effect, with the handler's delay for the retry this call
-- makes; attempts count as usual (an exhausted task fails whatever the delay); NULL delay is
-- fail_task; a queued task keeps fail_task's behaviour; a negative delay is refused.
begin;
select plan(12);

select pgflow.create_flow('rc_delay', max_attempts => 3, base_delay => 2);
select pgflow.add_step('rc_delay', 'call');
select r.run_id as run_id from pgflow.start_flow('rc_delay', '{}') as r \gset
select pgflow_tests.rc_start_all(:'run_id');

select is(
    (select row(t.status, t.attempts_count, t.error_message)::text
     from pgflow.fail_task_with_delay(:'run_id', 'call', 0, 'HTTP 429', 120) as t),
    row('queued', 1, 'HTTP 429')::text,
    'the task is queued for a retry, as by fail_task'
);
select is(pgflow_tests.task_vt_in(:'run_id', 'call'), 120, 'its message is hidden for the handler''s 120 s');

-- a queued task: fail_task's own behaviour (quirk 11: the computed backoff), not the handler's delay
select is(
    (select t.status from pgflow.fail_task_with_delay(:'run_id', 'call', 0, 'again', 500) as t),
    'queued',
    'a queued task stays queued'
);
select is(pgflow_tests.task_vt_in(:'run_id', 'call'), 4, '... with fail_task''s backoff floor(2 * 2^1), not 500 s');

select pgflow_tests.rc_start_all(:'run_id');
select is(
    (select t.attempts_count from pgflow.fail_task_with_delay(:'run_id', 'call', 0, 'boom', null) as t),
    2,
    'a NULL delay: fail_task'
);
select is(pgflow_tests.task_vt_in(:'run_id', 'call'), 8, '... with its backoff floor(2 * 2^2)');

select pgflow_tests.rc_start_all(:'run_id');
select is(
    (select t.status from pgflow.fail_task_with_delay(:'run_id', 'call', 0, 'HTTP 429', 120) as t),
    'failed',
    'the third failure exhausts the task whatever the delay'
);
select is((select r.status from pgflow.runs as r where r.run_id = :'run_id'), 'failed', 'the run fails');
select is(pgflow_tests.rc_queue_count('rc_delay'), 0, 'its message is archived, not delayed');

select r.run_id as run2 from pgflow.start_flow('rc_delay', '{}') as r \gset
select pgflow_tests.rc_start_all(:'run2');
select pgflow.fail_task_with_delay(:'run2', 'call', 0, 'retry now', 0);
select is(pgflow_tests.task_vt_in(:'run2', 'call'), 0, 'a zero delay makes the retry visible at once');

select throws_ok(
    format('select pgflow.fail_task_with_delay(%L, %L, 0, %L, -1)', :'run2', 'call', 'x'),
    '22023', 'retry_delay_seconds must be >= 0 (got -1)', 'a negative delay is refused'
);
select is(
    (select count(*)::int from pgflow.fail_task_with_delay('00000000-0000-0000-0000-00000000dead', 'call', 0, 'x', 5)),
    0,
    'an unknown run: no row, as fail_task'
);

select * from finish();
rollback;
