-- cancel_run on a run with a completed step, started and queued map tasks and a step not yet
-- started; then every late callback the contract (and the batched functions) can receive for it
-- changes nothing: counts, outputs, statuses, messages, events.
begin;
select plan(28);

select pgflow.create_flow('rc_cancel', max_attempts => 3);
select pgflow.add_step('rc_cancel', 'fetch');
select pgflow.add_step('rc_cancel', 'items', deps_slugs => array['fetch'], step_type => 'map');
select pgflow.add_step('rc_cancel', 'total', deps_slugs => array['items']);
select r.run_id as run_id from pgflow.start_flow('rc_cancel', '{"n": 4}') as r \gset
select pgflow_tests.ensure_worker('rc_cancel');

-- fetch completes with 4 elements; 2 of the 4 map tasks are started, 2 stay queued
select is(pgflow_tests.rc_run_step(:'run_id', 'fetch', '[1, 2, 3, 4]'), 1, 'fetch completed');
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('rc_cancel', '11111111-1111-1111-1111-111111111111', 30, 2)),
    2,
    'two map tasks started by a worker'
);
select is(pgflow_tests.rctl_task_statuses(:'run_id', 'items'), array['queued:2', 'started:2'], 'two started, two queued');
select count(*) as events_before from pgflow_tests.run_events(:'run_id') \gset

-- cancel
select is(
    (select row(c.status, c.remaining_steps, c.output, c.failed_at, c.completed_at)::text
     from pgflow.cancel_run(:'run_id') as c),
    row('cancelled', 2, null::jsonb, null::timestamptz, null::timestamptz)::text,
    'cancel_run returns the run cancelled, remaining_steps and output untouched'
);
select ok(
    (select r.cancelled_at = now() from pgflow.runs as r where r.run_id = :'run_id'), 'cancelled_at is set'
);
select is(
    (select array_agg(ss.step_slug || ':' || ss.status order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'run_id'),
    array['fetch:completed', 'items:cancelled', 'total:cancelled'],
    'the started and the created step are cancelled; the completed one keeps its state'
);
select is(
    (select array_agg(st.step_slug || ':' || st.task_index || ':' || st.status order by st.step_slug, st.task_index)
     from pgflow.step_tasks as st where st.run_id = :'run_id'),
    array['fetch:0:completed', 'items:0:cancelled', 'items:1:cancelled', 'items:2:cancelled', 'items:3:cancelled'],
    'its queued and started tasks are cancelled'
);
select is(
    (select o.output from pgflow.step_states as o where o.run_id = :'run_id' and o.step_slug = 'fetch'),
    '[1, 2, 3, 4]'::jsonb,
    'the completed step keeps its output'
);
select is(pgflow_tests.rc_queue_count('rc_cancel'), 0, 'no message of the run is left in the queue');
select is(pgflow_tests.rc_archive_count('rc_cancel'), 5, 'all five task messages are in the archive');
select is(
    (select count(*)::int from pgflow_tests.run_events(:'run_id')), :events_before + 1, 'one event more'
);
select is(
    (select e.event from pgflow_tests.run_events(:'run_id') as e offset :events_before),
    'run:cancelled',
    'the event is run:cancelled'
);
select is(
    (select pgflow_tests.payload_keys(e.payload) from pgflow_tests.run_events(:'run_id') as e offset :events_before),
    array['cancelled_at', 'event_type', 'flow_slug', 'run_id', 'status'],
    'run:cancelled payload keys'
);
select is(
    (select e.payload ->> 'status' from pgflow_tests.run_events(:'run_id') as e offset :events_before),
    'cancelled',
    'run:cancelled payload status'
);

-- late callbacks
select pgflow_tests.rctl_snapshot(:'run_id') as snap \gset

select is(
    (select t.status from pgflow.complete_task(:'run_id', 'items', 0, '"late"') as t),
    'cancelled',
    'a late complete_task returns the task as it is (cancelled)'
);
select is(pgflow_tests.rctl_snapshot(:'run_id'), :'snap'::jsonb, 'complete_task changed nothing');
select is(
    (select t.status from pgflow.fail_task(:'run_id', 'items', 1, 'late failure') as t),
    'cancelled',
    'a late fail_task returns the task as it is (cancelled)'
);
select is(pgflow_tests.rctl_snapshot(:'run_id'), :'snap'::jsonb, 'fail_task changed nothing');
select is(
    (select count(*)::int from pgflow.start_tasks(
        'rc_cancel',
        (select array_agg(st.message_id) from pgflow.step_tasks as st where st.run_id = :'run_id'),
        '11111111-1111-1111-1111-111111111111'
    )),
    0,
    'start_tasks with the run''s message ids starts nothing'
);
select is(pgflow_tests.rctl_snapshot(:'run_id'), :'snap'::jsonb, 'start_tasks changed nothing');
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('rc_cancel', '11111111-1111-1111-1111-111111111111', 30, 10)),
    0,
    'read_and_start_tasks finds nothing to start'
);
select is(
    pgflow.complete_tasks_count(
        array[:'run_id', :'run_id']::uuid [], array['items', 'items'], array[0, 1], array['1', '2']::jsonb []
    ),
    2,
    'complete_tasks_count counts the two known tasks'
);
select is(
    (select count(*)::int from pgflow.complete_tasks_and_claim(
        array[:'run_id']::uuid [], array['items'], array[2], array['3']::jsonb [],
        '11111111-1111-1111-1111-111111111111', 5
    )),
    0,
    'complete_tasks_and_claim claims nothing'
);
select is(
    (select array_agg(t.status) from pgflow.complete_tasks(
        array[:'run_id']::uuid [], array['items'], array[3], array['4']::jsonb []
    ) as t),
    array['cancelled'],
    'complete_tasks returns the task as it is (cancelled)'
);
select is(pgflow_tests.rctl_snapshot(:'run_id'), :'snap'::jsonb, 'the batched completions changed nothing');

-- the stalled-task sweep: even long after the tasks started, nothing is swept
update pgflow.step_tasks
set queued_at = now() - interval '1 hour', started_at = now() - interval '1 hour'
where run_id = :'run_id' and step_slug = 'items' and started_at is not null;
select pgflow_tests.rctl_snapshot(:'run_id') as snap2 \gset
select is(pgflow.requeue_stalled_tasks(), 0, 'requeue_stalled_tasks requeues none of the cancelled tasks');
select is(pgflow_tests.rctl_snapshot(:'run_id'), :'snap2'::jsonb, 'requeue_stalled_tasks changed nothing');
select is(
    (select count(*)::int from pgflow.step_tasks as st where st.run_id = :'run_id' and st.output is not null),
    1,
    'no output was recorded for a cancelled task'
);

select * from finish();
rollback;
