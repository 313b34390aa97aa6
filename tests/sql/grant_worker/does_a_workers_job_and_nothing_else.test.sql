-- A role given pgflow.grant_worker registers, heartbeats, reads and starts tasks, completes them (one
-- by one and batched), extends a timeout, fails a task, runs the maintenance sweep and stops; it
-- cannot define flows, start, cancel or retry runs, delete, or create queues.
begin;
select plan(23);

select pgflow.create_flow('grants_w', max_attempts => 1);
select pgflow.add_step('grants_w', 'root');
select pgflow.add_step('grants_w', 'fan', deps_slugs => array['root'], step_type => 'map');
select pgflow.add_step('grants_w', 'last', deps_slugs => array['fan']);
select r.run_id as run_id from pgflow.start_flow('grants_w', '{}') as r \gset
select r.run_id as other_id from pgflow.start_flow('grants_w', '{}') as r \gset
create role grants_test_worker;
select ok(count(*) > 0, 'grant_worker returns the statements it ran')
from pgflow.grant_worker('grants_test_worker');

set local role grants_test_worker;
select lives_ok($$
    insert into pgflow.workers (worker_id, queue_name, function_name)
    values ('00000000-0000-0000-0000-0000000000f1', 'grants_w', 'tests')
$$, 'it registers itself');
select lives_ok($$
    update pgflow.workers set last_heartbeat_at = clock_timestamp()
    where worker_id = '00000000-0000-0000-0000-0000000000f1'
$$, 'it heartbeats');
select lives_ok($$ select pgflow.track_worker_function('tests') $$, 'it tracks its function');
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('grants_w', '00000000-0000-0000-0000-0000000000f1', 30, 1)),
    1, 'it reads and starts a task'
);
select lives_ok(format($$ select pgflow.complete_task(%L, 'root', 0, '[1, 2, 3]') $$, :'run_id'),
    'it completes it (the map step starts: tasks and messages)');
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('grants_w', '00000000-0000-0000-0000-0000000000f1', 30, 10)
     where run_id = :'run_id'),
    3, 'it reads and starts the map''s tasks'
);
select lives_ok(format($$ select pgflow.extend_task_timeout(%L, 'fan', 0, 60) $$, :'run_id'),
    'it extends a timeout');
select is(
    pgflow.complete_tasks_count(array[:'run_id'::uuid], array['fan'], array[0], array['"a"'::jsonb]), 1,
    'it completes tasks in a batch'
);
select lives_ok(format($$ select pgflow.fail_task(%L, 'fan', 1, 'boom') $$, :'run_id'), 'it fails a task');
select is((select r.status from pgflow.runs as r where r.run_id = :'run_id'), 'failed', '... which fails the run');
select lives_ok($$ select pgflow.requeue_stalled_tasks() $$, 'it runs the maintenance sweep');
select lives_ok($$ select pgflow.mark_worker_stopped('00000000-0000-0000-0000-0000000000f1') $$,
    'it marks itself stopped');

select throws_ok($$ select pgflow.create_flow('grants_w_new') $$, '42501', null, 'it cannot define a flow');
select throws_ok($$ select pgflow.add_step('grants_w', 'extra') $$, '42501', null, 'it cannot add a step');
select throws_ok($$ select pgflow.start_flow('grants_w', '{}') $$, '42501', null, 'it cannot start a run');
select throws_ok($$ select pgflow.start_flow_with_states('grants_w', '{}') $$, '42501', null,
    'it cannot start a run through the SECURITY DEFINER function either');
select throws_ok(format($$ select pgflow.cancel_run(%L) $$, :'other_id'), '42501', null, 'it cannot cancel a run');
select throws_ok(format($$ select pgflow.retry_run(%L) $$, :'run_id'), '42501', null, 'it cannot retry a run');
select throws_ok(format($$ select pgflow.resume_run(%L) $$, :'run_id'), '42501', null, 'it cannot resume a run');
select throws_ok($$ delete from pgflow.runs $$, '42501', null, 'it cannot delete runs');
select throws_ok($$ delete from pgflow.step_tasks $$, '42501', null, 'it cannot delete tasks');
select throws_ok($$ select pgmq.create('grants_w_queue') $$, '42501', null, 'it cannot create a queue');

reset role;
select * from finish();
rollback;
