-- A role given pgflow.grant_viewer reads every pgflow table, a run with its states and a flow
-- queue's depth; every write, through a function or a statement, is refused.
begin;
select plan(16);

select pgflow.create_flow('grants_v', max_attempts => 1);
select pgflow.add_step('grants_v', 'root');
select r.run_id as run_id from pgflow.start_flow('grants_v', '{}') as r \gset
create role grants_test_viewer;
select ok(count(*) > 0, 'grant_viewer returns the statements it ran') from pgflow.grant_viewer('grants_test_viewer');

set local role grants_test_viewer;
select is(
    (select count(*)::int from pg_catalog.pg_class as c
     where c.relnamespace = 'pgflow'::regnamespace and c.relkind in ('r', 'p')
         and not has_table_privilege(c.oid, 'select')),
    0, 'it may select from every pgflow table'
);
select is((select count(*)::int from pgflow.runs as r where r.run_id = :'run_id'), 1, 'it reads runs');
select is(pgflow.get_run_with_states(:'run_id') -> 'run' ->> 'status', 'started', 'it reads a run with its states');
select is((select m.queue_length::int from pgmq.metrics('grants_v') as m), 1, 'it reads a flow queue''s depth');

select throws_ok($$ select pgflow.start_flow('grants_v', '{}') $$, '42501', null, 'it cannot start a run');
select throws_ok($$ select pgflow.start_flow_with_states('grants_v', '{}') $$, '42501', null,
    'it cannot start a run through the SECURITY DEFINER function');
select throws_ok(format($$ select pgflow.complete_task(%L, 'root', 0, '1') $$, :'run_id'), '42501', null,
    'it cannot complete a task');
select throws_ok(format($$ select pgflow.cancel_run(%L) $$, :'run_id'), '42501', null, 'it cannot cancel a run');
select throws_ok($$ select pgflow.create_flow('grants_v_new') $$, '42501', null, 'it cannot define a flow');
select throws_ok($$ select pgflow.requeue_stalled_tasks() $$, '42501', null, 'it cannot run the maintenance sweep');
select throws_ok($$ update pgflow.runs set remaining_steps = 0 $$, '42501', null, 'it cannot update a table');
select throws_ok($$ delete from pgflow.step_tasks $$, '42501', null, 'it cannot delete from a table');
select throws_ok($$ insert into pgflow.workers (worker_id, queue_name, function_name)
    values (gen_random_uuid(), 'grants_v', 'x') $$, '42501', null, 'it cannot register a worker');
select throws_ok($$ select pgmq.send('grants_v', '{}') $$, '42501', null, 'it cannot send a message');
select throws_ok($$ select * from pgmq.read('grants_v', 30, 1) $$, '42501', null, 'it cannot read (hide) messages');

reset role;
select * from finish();
rollback;
