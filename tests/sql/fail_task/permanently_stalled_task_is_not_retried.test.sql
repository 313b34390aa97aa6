-- fail_task on a task that requeue_stalled_tasks gave up on (permanently_stalled_at set, message
-- archived): never queued again for a retry, which no message could ever hand out; it fails as if
-- its attempts were exhausted, by the step's when_exhausted. Other tasks retry as before.
begin;
select plan(5);

select pgflow.create_flow('ftps_flow', max_attempts => 10);
select pgflow.add_step('ftps_flow', 'work');
select run_id as run from pgflow.start_flow('ftps_flow', '{}') \gset
select pgflow_tests.read_and_start('ftps_flow', vt => 300);

-- an ordinary failure with attempts left is retried
select is(
    (select t.status from pgflow.fail_task(:'run', 'work', 0, 'boom') as t), 'queued',
    'a failure with attempts left is retried'
);

-- now the task stalls past the limit; its last worker then reports a failure
select pgflow_tests.make_all_visible('ftps_flow');
select pgflow_tests.read_and_start('ftps_flow', vt => 300);
update pgflow.step_tasks set requeued_count = 3 where run_id = :'run';
select pgflow_tests.ops_backdate_started(:'run', 'work', 91);
select is(pgflow.requeue_stalled_tasks(), 0, 'setup: the fourth stall gives the task up');
select is(
    (select row(t.status, t.error_message) from pgflow.fail_task(:'run', 'work', 0, 'late boom') as t),
    row('failed'::text, 'late boom'::text),
    'the late failure fails the task (2 attempts of 10, yet no retry)'
);
select is(
    (select ss.status from pgflow.step_states as ss where ss.run_id = :'run' and ss.step_slug = 'work'), 'failed',
    'its step fails (when_exhausted fail)'
);
select is((select r.status from pgflow.runs as r where r.run_id = :'run'), 'failed', 'and so does the run');

select * from finish();
rollback;
