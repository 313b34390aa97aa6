-- requeue_dead_worker_tasks: the started tasks of a worker whose heartbeat is older than the
-- threshold and that did not stop cleanly are requeued at once, in one call; a live worker (fresh
-- heartbeat) and a worker that stopped cleanly keep theirs.
begin;
select plan(22);

select pgflow.create_flow('rdw_flow', timeout => 60);
select pgflow.add_step('rdw_flow', 'each', step_type => 'map');
select run_id as run from pgflow.start_flow('rdw_flow', '[1, 2, 3, 4]') \gset
create temp table rdw_run as select :'run'::uuid as run_id;

-- three workers: dead (no heartbeat for 20 s), live (fresh heartbeat), stopped cleanly (no
-- heartbeat for 20 s either)
select pgflow_tests.ensure_worker('rdw_flow', 'dddddddd-0000-0000-0000-000000000001', 'fn_dead');
select pgflow_tests.ensure_worker('rdw_flow', 'aaaaaaaa-0000-0000-0000-000000000002', 'fn_live');
select pgflow_tests.ensure_worker('rdw_flow', '55555555-0000-0000-0000-000000000003', 'fn_stopped');
create temp table rdw_dead as
select t.msg_id, t.task_index
from pgflow_tests.read_and_start('rdw_flow', vt => 300, qty => 2, worker_uuid => 'dddddddd-0000-0000-0000-000000000001') as t;
create temp table rdw_live as
select t.msg_id, t.task_index
from pgflow_tests.read_and_start('rdw_flow', vt => 300, qty => 1, worker_uuid => 'aaaaaaaa-0000-0000-0000-000000000002') as t;
create temp table rdw_stopped as
select t.msg_id, t.task_index
from pgflow_tests.read_and_start('rdw_flow', vt => 300, qty => 1, worker_uuid => '55555555-0000-0000-0000-000000000003') as t;
select is((select count(*)::int from pgflow.step_tasks where run_id = :'run' and status = 'started'), 4,
    'setup: four tasks started by three workers');

select pgflow_tests.rcv_heartbeat_ago('dddddddd-0000-0000-0000-000000000001', 20);
select pgflow_tests.rcv_heartbeat_ago('55555555-0000-0000-0000-000000000003', 20);
select pgflow.mark_worker_stopped('55555555-0000-0000-0000-000000000003');

select is_empty(
    $$ select * from pgflow.requeue_dead_worker_tasks(heartbeat_timeout => '30 seconds') $$,
    'a heartbeat 20 s old is not dead for a 30 s threshold'
);

select is_empty(
    $$ select * from pgflow.requeue_dead_worker_tasks(function_name => 'fn_live') $$,
    'with a function_name, only workers registered under it are judged (fn_live''s is alive)'
);

create temp table rdw_out as select * from pgflow.requeue_dead_worker_tasks();
select results_eq(
    $$ select flow_slug, run_id, step_slug, task_index, worker_id, requeued_count, outcome
       from rdw_out order by task_index $$,
    $$ select 'rdw_flow'::text, (select r.run_id from rdw_run as r), 'each'::text, d.task_index, 'dddddddd-0000-0000-0000-000000000001'::uuid,
              1, 'requeued'::text
       from rdw_dead as d order by d.task_index $$,
    'default threshold (15 s): both tasks of the dead worker are returned, requeued'
);
select ok(
    (select bool_and(o.last_heartbeat_at < clock_timestamp() - interval '19 seconds') from rdw_out as o),
    'each row carries the dead worker''s last heartbeat'
);
select results_eq(
    $$ select t.status, t.started_at, t.last_worker_id, t.requeued_count, t.last_requeued_at, t.attempts_count
       from pgflow.step_tasks as t inner join rdw_dead as d on d.msg_id = t.message_id
       where t.flow_slug = 'rdw_flow' order by t.task_index $$,
    $$ values ('queued'::text, null::timestamptz, null::uuid, 1, now(), 1), ('queued', null, null, 1, now(), 1) $$,
    'queued again as requeue_stalled_tasks does: started_at, last_worker_id cleared, requeued_count 1, attempts kept'
);
select is(
    (select array_agg(pgflow_tests.ops_message_state('rdw_flow', d.msg_id)) from rdw_dead as d),
    array['visible', 'visible'],
    'their messages are visible at once (they were hidden for 300 s)'
);
select is(
    (select row(t.status, t.last_worker_id) from pgflow.step_tasks as t
     inner join rdw_live as l on l.msg_id = t.message_id where t.flow_slug = 'rdw_flow'),
    row('started'::text, 'aaaaaaaa-0000-0000-0000-000000000002'::uuid),
    'the live worker keeps its task'
);
select is(
    (select pgflow_tests.ops_message_state('rdw_flow', l.msg_id) from rdw_live as l), 'hidden',
    'and its message stays hidden'
);
select is(
    (select row(t.status, t.last_worker_id) from pgflow.step_tasks as t
     inner join rdw_stopped as s on s.msg_id = t.message_id where t.flow_slug = 'rdw_flow'),
    row('started'::text, '55555555-0000-0000-0000-000000000003'::uuid),
    'a worker that stopped cleanly keeps its task (it may still be finishing it)'
);
select is(
    (select row(ss.status, r.status) from pgflow.step_states as ss join pgflow.runs as r using (run_id)
     where ss.run_id = :'run'),
    row('started'::text, 'started'::text),
    'step and run states are not touched'
);
select is_empty(
    $$ select * from pgflow.requeue_dead_worker_tasks() $$,
    'a second call finds nothing (the dead worker has no started task left)'
);
select is(pgflow.requeue_stalled_tasks(), 0, 'requeue_stalled_tasks has nothing to do (no task is past timeout + 30 s)');
select is(
    (select count(*)::int from realtime.messages where event = 'worker:dead'), 0,
    'worker:dead goes out by NOTIFY only (no run, so no Realtime topic)'
);

-- another worker picks the requeued tasks up
select is(
    (select count(*)::int
     from pgflow_tests.read_and_start('rdw_flow', vt => 300, qty => 10, worker_uuid => 'aaaaaaaa-0000-0000-0000-000000000002')),
    2, 'the live worker reads and starts both requeued tasks'
);
select is(
    (select array_agg(t.attempts_count order by t.task_index) from pgflow.step_tasks as t
     inner join rdw_dead as d on d.msg_id = t.message_id where t.flow_slug = 'rdw_flow'),
    array[2, 2], 'each counts its second attempt'
);

-- the same limit as requeue_stalled_tasks: a task requeued 3 times already is given up
select pgflow_tests.ensure_worker('rdw_flow', 'dddddddd-0000-0000-0000-000000000004', 'fn_dead2');
select run_id as run2 from pgflow.start_flow('rdw_flow', '[9]') \gset
select msg_id as msg2
from pgflow_tests.read_and_start('rdw_flow', vt => 300, qty => 1, worker_uuid => 'dddddddd-0000-0000-0000-000000000004') \gset
update pgflow.step_tasks set requeued_count = 3 where run_id = :'run2';
create temp table rdw_run2 as select :'run2'::uuid as run_id;
select pgflow_tests.rcv_heartbeat_ago('dddddddd-0000-0000-0000-000000000004', 20);
select results_eq(
    $$ select run_id, requeued_count, outcome from pgflow.requeue_dead_worker_tasks() $$,
    $$ select r.run_id, 3, 'permanently_stalled'::text from rdw_run2 as r $$,
    'a task at the requeue limit (3) is returned as permanently_stalled'
);
select is(
    (select row(t.status, t.requeued_count, t.permanently_stalled_at, t.last_worker_id)
     from pgflow.step_tasks as t where t.run_id = :'run2'),
    row('started'::text, 3, now(), 'dddddddd-0000-0000-0000-000000000004'::uuid),
    'it is stamped permanently_stalled_at and stays started (fail_stalled_tasks ends it)'
);
select is(pgflow_tests.ops_message_state('rdw_flow', :msg2), 'archived', 'and its message is archived');

-- a task left started in a failed run holds nothing: not touched
select run_id as run3 from pgflow.start_flow('rdw_flow', '[7]') \gset
select pgflow_tests.read_and_start('rdw_flow', vt => 300, qty => 1, worker_uuid => 'dddddddd-0000-0000-0000-000000000004');
update pgflow.runs set status = 'failed', failed_at = now() where run_id = :'run3';
select is_empty(
    $$ select * from pgflow.requeue_dead_worker_tasks() $$,
    'a dead worker''s task in a failed run is left alone'
);

-- bad thresholds
select throws_ok(
    $$ select * from pgflow.requeue_dead_worker_tasks(heartbeat_timeout => '0 seconds') $$,
    'P0001', 'heartbeat_timeout must be a positive interval, got 00:00:00', 'a zero threshold is refused'
);
select throws_ok(
    $$ select * from pgflow.requeue_dead_worker_tasks(heartbeat_timeout => null) $$,
    'P0001', 'heartbeat_timeout must be a positive interval, got NULL', 'a NULL threshold is refused'
);

select * from finish();
rollback;
