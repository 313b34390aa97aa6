begin;
select plan(13);

-- flow timeout 60; step `fast` overrides it with 5 s, step `slow` inherits 60
select pgflow.create_flow('rsts_flow', timeout => 60);
select pgflow.add_step('rsts_flow', 'fast', timeout => 5);
select pgflow.add_step('rsts_flow', 'slow');
select pgflow.create_flow('rsts_other');
select pgflow.add_step('rsts_other', 'work');
create temp table rsts_run as
select r.run_id, r.flow_slug from pgflow.start_flow('rsts_flow', '{}') as r
union all
select r.run_id, r.flow_slug from pgflow.start_flow('rsts_other', '{}') as r;
select pgflow_tests.read_and_start('rsts_flow', vt => 300, qty => 10);
select pgflow_tests.read_and_start('rsts_other', vt => 300, qty => 10);

create function pg_temp.run_of(flow text) returns uuid language sql as $$
    select r.run_id from rsts_run as r where r.flow_slug = run_of.flow
$$;
create function pg_temp.task_status(flow text, step text) returns text language sql as $$
    select t.status from pgflow.step_tasks as t where t.run_id = pg_temp.run_of(flow) and t.step_slug = step
$$;

select pgflow_tests.ops_backdate_started(pg_temp.run_of('rsts_flow'), 'fast', 36);
select pgflow_tests.ops_backdate_started(pg_temp.run_of('rsts_flow'), 'slow', 36);
select is(pgflow.requeue_stalled_tasks(), 0, 'a step''s own timeout is not used: 36 s is under the flow''s 60 + 30 s');
select is(pg_temp.task_status('rsts_flow', 'fast'), 'started', 'the step with a 5 s timeout keeps running');

select pgflow_tests.ops_backdate_started(pg_temp.run_of('rsts_flow'), 'fast', 89);
select is(pgflow.requeue_stalled_tasks(), 0, 'at 89 s nothing is stalled yet');

select pgflow_tests.ops_backdate_started(pg_temp.run_of('rsts_flow'), 'fast', 91);
select pgflow_tests.ops_backdate_started(pg_temp.run_of('rsts_flow'), 'slow', 91);
select pgflow_tests.ops_backdate_started(pg_temp.run_of('rsts_other'), 'work', 91);
select is(pgflow.requeue_stalled_tasks(), 3, 'past the flow timeout + 30 s, stalled tasks of several flows are requeued in one call');
select is(pg_temp.task_status('rsts_flow', 'fast'), 'queued', 'the task is queued again');
select is(
    array[
        pgflow_tests.ops_message_state('rsts_flow', (
            select t.message_id from pgflow.step_tasks as t where t.run_id = pg_temp.run_of('rsts_flow') and t.step_slug = 'slow'
        )),
        pgflow_tests.ops_message_state('rsts_other', (
            select t.message_id from pgflow.step_tasks as t where t.run_id = pg_temp.run_of('rsts_other')
        ))
    ],
    array['visible', 'visible'],
    'each in its own queue'
);

-- the contract's selection only: a queued task is not stalled; a task left started in a failed
-- run or a skipped step is swept like any other (run and step states are not touched)
select pgflow.create_flow('rsts_fail', max_attempts => 1);
select pgflow.add_step('rsts_fail', 'boom');
select pgflow.add_step('rsts_fail', 'busy');
select pgflow.add_step('rsts_fail', 'idle');
create temp table rsts_fail_run as select r.run_id from pgflow.start_flow('rsts_fail', '{}') as r;
select pgflow_tests.ensure_worker('rsts_fail');
select pgflow.start_tasks(
    'rsts_fail',
    (select array_agg(t.message_id) from pgflow.step_tasks as t
     where t.run_id = (select run_id from rsts_fail_run) and t.step_slug in ('boom', 'busy')),
    '11111111-1111-1111-1111-111111111111'
);
update pgflow.step_tasks set queued_at = now() - interval '1 hour'
where run_id = (select run_id from rsts_fail_run) and step_slug = 'idle';
select pgflow.fail_task((select run_id from rsts_fail_run), 'boom', 0, 'no retries left');
select is(
    (select r.status from pgflow.runs as r where r.run_id = (select run_id from rsts_fail_run)), 'failed',
    'setup: the run failed while `busy` is still started'
);
select pgflow_tests.ops_backdate_started((select run_id from rsts_fail_run), 'busy', 3600);
select is(pgflow.requeue_stalled_tasks(), 1, 'a stalled task of a failed run is requeued');
select is(
    (select row(t.status, t.requeued_count) from pgflow.step_tasks as t
     where t.run_id = (select run_id from rsts_fail_run) and t.step_slug = 'busy'),
    row('queued'::text, 1),
    'back to queued, counted'
);
select is(
    (select r.status from pgflow.runs as r where r.run_id = (select run_id from rsts_fail_run)), 'failed',
    'the run stays failed'
);
select is(
    (select t.status from pgflow.step_tasks as t where t.run_id = (select run_id from rsts_fail_run) and t.step_slug = 'idle'),
    'queued',
    'a long-queued task is not a stalled task'
);

-- a step skipped while its task was running
select pgflow.create_flow('rsts_skip');
select pgflow.add_step('rsts_skip', 'work');
create temp table rsts_skip_run as select r.run_id from pgflow.start_flow('rsts_skip', '{}') as r;
select pgflow_tests.read_and_start('rsts_skip', vt => 300);
select pgflow._cascade_force_skip_steps((select run_id from rsts_skip_run), 'work', 'condition_unmet');
select pgflow_tests.ops_backdate_started((select run_id from rsts_skip_run), 'work', 3600);
select is(pgflow.requeue_stalled_tasks(), 1, 'a stalled task of a skipped step is requeued');
select is(
    (select ss.status from pgflow.step_states as ss where ss.run_id = (select run_id from rsts_skip_run)),
    'skipped',
    'the step stays skipped'
);

select * from finish();
rollback;
