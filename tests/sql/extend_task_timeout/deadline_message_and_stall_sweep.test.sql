-- extend_task_timeout: a started task's deadline moves to now() + seconds (never earlier), its
-- message stays hidden until 2 s past it, and requeue_stalled_tasks leaves it alone until 30 s past
-- it, while a task never extended is swept as before; a later attempt ignores an earlier
-- attempt's extension; a task no longer started gets NULL; bad input raises.
begin;
select plan(16);

select pgflow.create_flow('rc_extend', timeout => 10);
select pgflow.add_step('rc_extend', 'work', step_type => 'map');
select r.run_id as run_id from pgflow.start_flow('rc_extend', '[1, 2]') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('rc_extend', 1, 10)), 2, 'both tasks started');

select is(
    pgflow.extend_task_timeout(:'run_id', 'work', 0, 100), now() + interval '100 seconds', 'returns the new deadline'
);
select is(
    (select row(d.extended_at, d.deadline_at)::text from pgflow.task_deadlines as d where d.run_id = :'run_id'),
    row(now(), now() + interval '100 seconds')::text,
    'the deadline is recorded for this attempt'
);
select ok(pgflow_tests.task_vt_in(:'run_id', 'work', 0) between 101 and 102, 'its message is hidden until 2 s past it');
select is(
    pgflow.extend_task_timeout(:'run_id', 'work', 0, 5), now() + interval '100 seconds',
    'a shorter extension keeps the later deadline'
);

-- both tasks started 60 s ago: past the flow timeout + 30 s
select pgflow_tests.ops_backdate_started(:'run_id', 'work', 60);
select is(pgflow.requeue_stalled_tasks(), 1, 'the sweep requeues one task');
select is(
    (select array_agg(st.task_index || ':' || st.status order by st.task_index) from pgflow.step_tasks as st where st.run_id = :'run_id'),
    array['0:started', '1:queued'],
    'the extended task is left alone, the other one is requeued as before'
);

-- 30 s past the extended deadline, the extended task is swept too
update pgflow.task_deadlines
set extended_at = now() - interval '50 seconds', deadline_at = now() - interval '31 seconds'
where run_id = :'run_id';
select is(pgflow.requeue_stalled_tasks(), 1, '30 s past its deadline, the extended task is swept');

-- a new attempt ignores the old attempt's extension
update pgflow.task_deadlines set deadline_at = now() + interval '1000 seconds' where run_id = :'run_id';
select pgflow_tests.make_all_visible('rc_extend');
select is((select count(*)::int from pgflow_tests.read_and_start('rc_extend', 1, 10)), 2, 'both tasks started again');
select is(
    pgflow.extend_task_timeout(:'run_id', 'work', 0, 5), now() + interval '10 seconds',
    'the new attempt''s deadline is its own (started_at + timeout), not the old extension''s'
);

-- no longer started
select pgflow.complete_task(:'run_id', 'work', 1, '"done"');
select is(pgflow.extend_task_timeout(:'run_id', 'work', 1, 30), null, 'a completed task gets NULL');
select pgflow.cancel_run(:'run_id');
select pgflow_tests.rctl_snapshot(:'run_id') as snap \gset
select is(pgflow.extend_task_timeout(:'run_id', 'work', 0, 30), null, 'a cancelled task gets NULL');
select is(pgflow_tests.rctl_snapshot(:'run_id'), :'snap'::jsonb, '... and nothing changes');

select throws_ok(
    format('select pgflow.extend_task_timeout(%L, %L, 0, 0)', :'run_id', 'work'),
    '22023', 'seconds must be a positive number of seconds (got 0)', 'zero seconds are refused'
);
select throws_ok(
    format('select pgflow.extend_task_timeout(%L, %L, 0, null)', :'run_id', 'work'),
    '22023', 'seconds must be a positive number of seconds (got NULL)', 'NULL seconds are refused'
);
select throws_ok(
    format('select pgflow.extend_task_timeout(%L, %L, 7, 10)', :'run_id', 'work'),
    'P0002', format('Task %s/work/7 not found', :'run_id'), 'an unknown task raises an error naming it'
);

select * from finish();
rollback;
