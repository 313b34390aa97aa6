begin;
select plan(19);

select pgflow.create_flow('ft_retry', max_attempts => 3, base_delay => 2);
select pgflow.add_step('ft_retry', 'only');
select pgflow.add_step('ft_retry', 'tuned', max_attempts => 2, base_delay => 1);
select r.run_id as run_id from pgflow.start_flow('ft_retry', '{"x": 1}') as r \gset

select is((select count(*)::int from pgflow_tests.read_and_start('ft_retry', 1, 10)), 2, 'both root tasks started');
update pgflow.step_states set error_message = 'stale' where run_id = :'run_id' and step_slug = 'only';
select count(*) as events_before from pgflow_tests.run_events(:'run_id') \gset

-- first failure: attempts left
select is(
    (select t.status from pgflow.fail_task(:'run_id', 'only', 0, 'boom 1') as t),
    'queued',
    'fail_task returns the task row, back in queued'
);
select is(
    (select row(t.status, t.attempts_count, t.started_at, t.failed_at, t.error_message)::text
     from pgflow.step_tasks as t where t.run_id = :'run_id' and t.step_slug = 'only'),
    row('queued', 1, null::timestamptz, null::timestamptz, 'boom 1')::text,
    'retried task: queued, attempts_count kept, started_at and failed_at NULL, error_message kept'
);
select is(
    (select row(ss.status, ss.error_message, ss.failed_at)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'only'),
    row('started', null::text, null::timestamptz)::text,
    'the step stays started and its error is cleared'
);
select is(
    (select row(r.status, r.remaining_steps)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('started', 2)::text,
    'the run is untouched'
);
select is(pgflow_tests.task_vt_in(:'run_id', 'only'), 4, 'message hidden for floor(2 * 2^1) = 4 s');
select ok(
    (select extract(epoch from q.vt - q.enqueued_at) between 4 and 5
     from pgflow_tests.queue_messages('ft_retry') as q
     inner join pgflow.step_tasks as t on t.message_id = q.msg_id
     where t.run_id = :'run_id' and t.step_slug = 'only'),
    'vt - enqueued_at is the 4 s backoff'
);
select is(
    (select count(*)::int from pgflow_tests.run_events(:'run_id')),
    :events_before,
    'a task-level retry emits no event'
);
select is(
    (select count(*)::int from pgflow_tests.archived_msg_ids('ft_retry')), 0, 'a retried message is not archived'
);
select is(
    (select count(*)::int from pgflow_tests.read_and_start('ft_retry', 1, 10)), 0,
    'the retried message is not visible before its backoff'
);

-- second failure: delay doubles
select pgflow_tests.make_all_visible('ft_retry');
select is(
    (select t.step_slug from pgflow_tests.read_and_start('ft_retry', 1, 10) as t), 'only', 'the retry is picked up'
);
select is(
    (select t.attempts_count from pgflow.fail_task(:'run_id', 'only', 0, 'boom 2') as t), 2, 'second attempt counted'
);
select is(pgflow_tests.task_vt_in(:'run_id', 'only'), 8, 'second backoff is floor(2 * 2^2) = 8 s');
select is(
    (select t.error_message from pgflow.step_tasks as t where t.run_id = :'run_id' and t.step_slug = 'only'),
    'boom 2',
    'error_message holds the latest failure'
);

-- step options override the flow: max_attempts 2, base_delay 1
select pgflow.fail_task(:'run_id', 'tuned', 0, 'tuned 1');
select is(pgflow_tests.task_vt_in(:'run_id', 'tuned'), 2, 'step base_delay 1 overrides the flow: floor(1 * 2^1)');
select pgflow_tests.make_all_visible('ft_retry');
select is(
    (select count(*)::int from pgflow_tests.read_and_start('ft_retry', 1, 10)), 2, 'both retries picked up again'
);
select is(
    (select t.status from pgflow.fail_task(:'run_id', 'tuned', 0, 'tuned 2') as t),
    'failed',
    'step max_attempts 2 overrides the flow 3: the second failure exhausts the task'
);
select is(
    (select ss.status from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'tuned'),
    'failed',
    'the exhausted step fails (when_exhausted defaults to fail)'
);
select is(
    (select r.status from pgflow.runs as r where r.run_id = :'run_id'), 'failed', 'and fails the run'
);

select * from finish();
rollback;
