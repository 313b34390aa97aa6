begin;
select plan(21);

select pgflow.create_flow('rst_flow');
select pgflow.add_step('rst_flow', 'work');
create temp table rst_run as select r.run_id from pgflow.start_flow('rst_flow', '{"n": 1}') as r;
create temp table rst_msg as select t.msg_id from pgflow_tests.read_and_start('rst_flow', vt => 300) as t;

select is((select count(*)::int from rst_msg), 1, 'setup: the task is started by a worker');

-- still within flow timeout (60 s) + 30 s grace
select pgflow_tests.ops_backdate_started((select run_id from rst_run), 'work', 89);
select is(pgflow.requeue_stalled_tasks(), 0, 'a task started 89 s ago (timeout 60 + 30) is left alone');
select is(
    (select t.status from pgflow.step_tasks as t where t.run_id = (select run_id from rst_run)), 'started',
    'and stays started'
);

-- the worker died: past timeout + 30 s
select pgflow_tests.ops_backdate_started((select run_id from rst_run), 'work', 91);
select is(pgflow.requeue_stalled_tasks(), 1, 'a task started 91 s ago is requeued and counted');
select is(
    (select row(t.status, t.started_at, t.last_worker_id, t.requeued_count, t.last_requeued_at, t.attempts_count)
     from pgflow.step_tasks as t where t.run_id = (select run_id from rst_run)),
    row('queued'::text, null::timestamptz, null::uuid, 1, now(), 1),
    'queued again: started_at and last_worker_id cleared, requeued_count 1, last_requeued_at now(), attempts kept'
);
select is(
    pgflow_tests.ops_message_state('rst_flow', (select msg_id from rst_msg)), 'visible',
    'its message is visible at once (it was hidden for 300 s)'
);
select is(
    (select row(ss.status, r.status) from pgflow.step_states as ss join pgflow.runs as r using (run_id)
     where ss.run_id = (select run_id from rst_run)),
    row('started'::text, 'started'::text),
    'step and run states are not touched'
);
select is(pgflow.requeue_stalled_tasks(), 0, 'a queued task is not requeued twice');

-- a worker picks it up again; it stalls again, twice more
select is(
    (select t.msg_id from pgflow_tests.read_and_start('rst_flow', vt => 300) as t), (select msg_id from rst_msg),
    'a worker reads the same message and starts the task again'
);
select is(
    (select t.attempts_count from pgflow.step_tasks as t where t.run_id = (select run_id from rst_run)), 2,
    'start_tasks counts the new attempt'
);
select pgflow_tests.ops_backdate_started((select run_id from rst_run), 'work', 91);
select is(pgflow.requeue_stalled_tasks(), 1, 'second stall: requeued');
select pgflow_tests.read_and_start('rst_flow', vt => 300);
select pgflow_tests.ops_backdate_started((select run_id from rst_run), 'work', 91);
select is(pgflow.requeue_stalled_tasks(), 1, 'third stall: requeued');
select is(
    (select t.requeued_count from pgflow.step_tasks as t where t.run_id = (select run_id from rst_run)), 3,
    'requeued_count is 3'
);

-- the fourth stall: given up
select pgflow_tests.read_and_start('rst_flow', vt => 300);
select pgflow_tests.ops_backdate_started((select run_id from rst_run), 'work', 91);
select is(pgflow.requeue_stalled_tasks(), 0, 'fourth stall: not requeued (limit 3), so not counted');
select is(
    (select row(t.status, t.requeued_count, t.permanently_stalled_at)
     from pgflow.step_tasks as t where t.run_id = (select run_id from rst_run)),
    row('started'::text, 3, now()),
    'permanently_stalled_at is set; status stays started, requeued_count stays 3'
);
select is(
    pgflow_tests.ops_message_state('rst_flow', (select msg_id from rst_msg)), 'archived',
    'its message is archived'
);
select is(pgflow.requeue_stalled_tasks(), 0, 'a permanently stalled task is ignored afterwards');
select is(
    (select t.permanently_stalled_at from pgflow.step_tasks as t where t.run_id = (select run_id from rst_run)), now(),
    'and keeps its permanently_stalled_at'
);
select is(
    (select row(ss.status, r.status) from pgflow.step_states as ss join pgflow.runs as r using (run_id)
     where ss.run_id = (select run_id from rst_run)),
    row('started'::text, 'started'::text),
    'the step and run stay started (an operator decides)'
);

-- a late completion of the requeued-then-restarted task still works
select is(
    (select t.status from pgflow.complete_task((select run_id from rst_run), 'work', 0, '{"ok": true}') as t),
    'completed',
    'the last worker can still complete the task'
);
select is(
    (select r.status from pgflow.runs as r where r.run_id = (select run_id from rst_run)), 'completed',
    'and the run completes'
);

select * from finish();
rollback;
