begin;
select plan(15);

select pgflow.create_flow('rc_late');
select pgflow.add_step('rc_late', 'one');
select pgflow.add_step('rc_late', 'many', step_type => 'map');
select pgflow.add_step('rc_late', 'after', array['one']);

select run_id as run from pgflow.start_flow('rc_late', '[1,2]') \gset
select pgflow_tests.ensure_worker('rc_late');
-- start one and many[0]; many[1] stays queued
select count(*) from pgflow.start_tasks(
    'rc_late',
    (select array_agg(message_id) from pgflow.step_tasks
     where run_id = :'run' and (step_slug = 'one' or (step_slug = 'many' and task_index = 0))),
    '11111111-1111-1111-1111-111111111111'
);
select message_id as many1_msg from pgflow.step_tasks where run_id = :'run' and step_slug = 'many' and task_index = 1 \gset

-- duplicate completion of a single step
select pgflow.complete_task(:'run', 'one', 0, '"first"');
select count(*)::int as events_before from pgflow_tests.run_events(:'run') \gset
select is(
    (select row(status, output) from pgflow.complete_task(:'run', 'one', 0, '"second"')),
    row('completed'::text, '"first"'::jsonb), 'duplicate complete_task returns the row unchanged'
);
select is(
    (select output from pgflow.step_states where run_id = :'run' and step_slug = 'one'), '"first"'::jsonb,
    'step output unchanged'
);
select is((select remaining_steps from pgflow.runs where run_id = :'run'), 2, 'no double decrement');
select is(
    (select remaining_deps from pgflow.step_states where run_id = :'run' and step_slug = 'after'), 0,
    'dependents not decremented twice'
);
select is((select count(*)::int from pgflow_tests.run_events(:'run')), :events_before, 'no event emitted');

-- completing a queued (not started) task of a started step changes nothing, archives nothing
select is(
    (select status from pgflow.complete_task(:'run', 'many', 1, '"early"')), 'queued',
    'a queued task is not completed'
);
select is(
    (select remaining_tasks from pgflow.step_states where run_id = :'run' and step_slug = 'many'), 2,
    'remaining_tasks unchanged'
);
select is(
    (select count(*)::int from pgflow_tests.rc_message('rc_late', :many1_msg)), 1, 'its message stays in the queue'
);

-- duplicate completion of a map task while the step is still started
select pgflow.complete_task(:'run', 'many', 0, '"a"');
select pgflow.complete_task(:'run', 'many', 0, '"a-again"');
select is(
    (select row(status, remaining_tasks) from pgflow.step_states where run_id = :'run' and step_slug = 'many'),
    row('started'::text, 1), 'a map task completed twice counts once'
);

-- late callback on a skipped step: no state change, message archived
update pgflow.step_states
set status = 'skipped', skip_reason = 'handler_failed', skipped_at = now(), remaining_tasks = null
where run_id = :'run' and step_slug = 'many';
select is(
    (select status from pgflow.complete_task(:'run', 'many', 1, '"late"')), 'queued',
    'late callback on a skipped step returns the row unchanged'
);
select is(
    (select count(*)::int from pgflow_tests.rc_message('rc_late', :many1_msg)), 0, 'and archives its message'
);

-- run already failed: return the row, archive nothing
select run_id as run2 from pgflow.start_flow('rc_late', '[1]') \gset
select pgflow_tests.rc_start_all(:'run2');
select message_id as one2_msg from pgflow.step_tasks where run_id = :'run2' and step_slug = 'one' \gset
update pgflow.runs set status = 'failed', failed_at = now() where run_id = :'run2';
select is(
    (select status from pgflow.complete_task(:'run2', 'one', 0, '"x"')), 'started',
    'complete_task on a failed run returns the row unchanged'
);
select is(
    (select count(*)::int from pgflow_tests.rc_message('rc_late', :one2_msg)), 1,
    'and leaves the message alone'
);
select is(
    (select status from pgflow.step_states where run_id = :'run2' and step_slug = 'one'), 'started',
    'step state untouched'
);

select is(
    (select count(*)::int from pgflow.complete_task(:'run', 'no_such_step', 0, '1')), 0,
    'unknown task: empty result'
);

select * from finish();
rollback;
