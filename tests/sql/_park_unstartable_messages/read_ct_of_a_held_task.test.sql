-- A message whose task another worker holds is not handed out again every visibility timeout:
-- start_tasks (and read_and_start_tasks) hide it until the task's deadline, then until the stall
-- sweep's. Measured as read_ct over 30 simulated seconds of a worker polling every second with a
-- 5 s visibility timeout (the edge worker's), for a task with a 5 s timeout whose worker died:
-- pgflow's start_tasks leaves such a message alone, so its reads are pgmq.read's alone (the
-- `before` queue below); this project's start_tasks and read_and_start_tasks park it.
begin;
select plan(13);

select pgflow.create_flow('prk_before', timeout => 5);
select pgflow.add_step('prk_before', 'a');
select pgflow.create_flow('prk_start', timeout => 5);
select pgflow.add_step('prk_start', 'a');
select pgflow.create_flow('prk_batch', timeout => 5);
select pgflow.add_step('prk_batch', 'a');
select pgflow.start_flow(f, '{}') from unnest(array['prk_before', 'prk_start', 'prk_batch']) as f;

-- worker A starts each task, then dies (it never reports)
create temp table prk_msgs as
select f as flow, (select t.msg_id from pgflow_tests.read_and_start(f, vt => 5) as t) as msg_id
from unnest(array['prk_before', 'prk_start', 'prk_batch']) as f;
select pgflow_tests.ensure_worker(f, '22222222-2222-2222-2222-222222222222')
from unnest(array['prk_before', 'prk_start', 'prk_batch']) as f;
select is((select count(msg_id)::int from prk_msgs), 3, 'setup: worker A started the three tasks');

-- worker B polls every second for 30 s
create function pg_temp.poll_for(seconds int) returns void language plpgsql as $$
begin
    for i in 1..seconds loop
        perform pgflow_tests.rcv_time_passes(f, 1) from unnest(array['prk_before', 'prk_start', 'prk_batch']) as f;
        perform pgmq.read('prk_before', 5, 10);
        perform pgflow_tests.read_and_start('prk_start', vt => 5, qty => 10, worker_uuid => '22222222-2222-2222-2222-222222222222');
        perform pgflow.read_and_start_tasks('prk_batch', '22222222-2222-2222-2222-222222222222', 5, 10);
    end loop;
end;
$$;
select pg_temp.poll_for(30);

select is(
    (select pgflow_tests.rcv_read_ct('prk_before', m.msg_id) from prk_msgs as m where m.flow = 'prk_before'), 6,
    'before: read at 7 s (its start vt), then every 5 s: read_ct 6 after 30 s'
);
select is(
    (select pgflow_tests.rcv_read_ct('prk_start', m.msg_id) from prk_msgs as m where m.flow = 'prk_start'), 2,
    'start_tasks: read once more at 7 s, then hidden until the stall sweep: read_ct 2'
);
select is(
    (select pgflow_tests.rcv_read_ct('prk_batch', m.msg_id) from prk_msgs as m where m.flow = 'prk_batch'), 2,
    'read_and_start_tasks: the same, read_ct 2'
);
select ok(
    (select bool_and(pgflow_tests.rcv_vt(t.flow_slug, t.message_id) = t.started_at + interval '35 seconds')
     from pgflow.step_tasks as t where t.flow_slug in ('prk_start', 'prk_batch')),
    'both are hidden until started_at + flow timeout + 30 s, when requeue_stalled_tasks takes over'
);
select is(
    (select array_agg(t.attempts_count order by t.flow_slug) from pgflow.step_tasks as t
     where t.flow_slug in ('prk_start', 'prk_batch')),
    array[1, 1], 'no attempt was consumed by the reads'
);

-- once the sweep requeues the task, its message is visible at once and handed out
select pg_temp.poll_for(6);
select is(pgflow.requeue_stalled_tasks(), 3, 'the sweep requeues the three tasks (36 s > 5 + 30)');
select is(
    (select count(*)::int from pgflow_tests.read_and_start('prk_start', vt => 5, qty => 10,
        worker_uuid => '22222222-2222-2222-2222-222222222222')),
    1, 'the parked message is visible again at once and its task starts'
);

-- the task's own deadline first: a task started 1 s ago is hidden until started_at + timeout + 2 s
select run_id as run2 from pgflow.start_flow('prk_start', '{}') \gset
select msg_id as msg2 from pgflow_tests.read_and_start('prk_start', vt => 300) \gset
select pgflow_tests.make_all_visible('prk_start');
select is(
    (select count(*)::int from pgflow_tests.read_and_start('prk_start', vt => 1, qty => 10,
        worker_uuid => '22222222-2222-2222-2222-222222222222')),
    0, 'a fresh read of a held task''s message starts nothing'
);
select ok(
    (select pgflow_tests.rcv_vt('prk_start', :msg2) = now() + interval '7 seconds'),
    'and hides it until the task''s own deadline (started_at + timeout 5 + 2 s), not the read''s 1 s'
);

-- a finished task's message is archived
update pgflow.step_tasks set status = 'failed', failed_at = now(), error_message = 'x'
where run_id = :'run2';
select pgflow_tests.make_all_visible('prk_start');
select pgflow_tests.read_and_start('prk_start', vt => 5, qty => 10, worker_uuid => '22222222-2222-2222-2222-222222222222');
select is(pgflow_tests.ops_message_state('prk_start', :msg2), 'archived', 'a finished task''s message is archived');

-- a queued task whose step is not started keeps the read's visibility (pgflow's behaviour)
select pgflow.create_flow('prk_skip', timeout => 40);
select pgflow.add_step('prk_skip', 'a');
select pgflow_tests.ensure_worker('prk_skip', '22222222-2222-2222-2222-222222222222');
select run_id as run3 from pgflow.start_flow('prk_skip', '{}') \gset
update pgflow.step_states set status = 'skipped', skip_reason = 'condition_unmet', skipped_at = now(),
    remaining_tasks = null
where run_id = :'run3';
select message_id as msg3 from pgflow.step_tasks where run_id = :'run3' \gset
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('prk_skip', '22222222-2222-2222-2222-222222222222', 5, 10)),
    0, 'a queued task of a skipped step is not started'
);
select ok(
    pgflow_tests.rcv_vt('prk_skip', :msg3) between clock_timestamp() + interval '4 seconds' and clock_timestamp() + interval '5.5 seconds',
    'and its message keeps the caller''s vt (5 s), as after pgmq.read + start_tasks'
);

select * from finish();
rollback;
