-- A role given pgflow.grant_starter starts runs (start_flow, start_flow_idempotent,
-- start_flow_with_states; a run that completes inside start_flow too) and reads them; it cannot
-- read or start tasks, complete or fail them, define flows, cancel runs or delete.
begin;
select plan(17);

select pgflow.create_flow('grants_s', max_attempts => 1);
select pgflow.add_step('grants_s', 'root');
select pgflow.add_step('grants_s', 'fan', step_type => 'map');
select pgflow.add_step('grants_s', 'last', deps_slugs => array['root', 'fan']);
select pgflow.create_flow('grants_s_empty');
select pgflow.add_step('grants_s_empty', 'only', step_type => 'map');
create role grants_test_starter;
select ok(count(*) > 0, 'grant_starter returns the statements it ran')
from pgflow.grant_starter('grants_test_starter');
select r.run_id as owners_run from pgflow.start_flow('grants_s', '[1]') as r \gset

set local role grants_test_starter;
select lives_ok($$ select pgflow.start_flow('grants_s', '[1, 2]') $$, 'it starts a run (tasks and messages)');
select lives_ok($$ select pgflow.start_flow_idempotent('grants_s', '[3]', 'order-1') $$,
    'it starts a run idempotently');
select is(
    (select r.run_id from pgflow.start_flow_idempotent('grants_s', '[3]', 'order-1') as r),
    (select k.run_id from pgflow.run_idempotency_keys as k where k.idempotency_key = 'order-1'),
    '... once per key'
);
select is(pgflow.start_flow_with_states('grants_s', '[4]') -> 'run' ->> 'status', 'started',
    'it starts a run through start_flow_with_states');
select is((select r.status from pgflow.start_flow('grants_s_empty', '[]') as r), 'completed',
    'a run that completes inside start_flow completes');
select is((select count(*)::int from pgflow.runs as r where r.flow_slug = 'grants_s'), 4, 'it reads runs');
select is(pgflow.get_run_with_states(:'owners_run') -> 'run' ->> 'status', 'started',
    'it reads a run with its states');
select is((select count(*)::int from pgflow.step_tasks as t where t.run_id = :'owners_run'), 2, 'it reads tasks');

select throws_ok($$ select * from pgmq.read('grants_s', 30, 10) $$, '42501', null, 'it cannot read messages');
select throws_ok(format($$ select pgflow.start_tasks('grants_s', array[1::bigint], %L) $$,
    '00000000-0000-0000-0000-0000000000f2'), '42501', null, 'it cannot start tasks');
select throws_ok(format($$ select pgflow.complete_task(%L, 'root', 0, '1') $$, :'owners_run'), '42501', null,
    'it cannot complete a task');
select throws_ok(format($$ select pgflow.fail_task(%L, 'root', 0, 'no') $$, :'owners_run'), '42501', null,
    'it cannot fail a task');
select throws_ok($$ select pgflow.create_flow('grants_s_new') $$, '42501', null, 'it cannot define a flow');
select throws_ok(format($$ select pgflow.cancel_run(%L) $$, :'owners_run'), '42501', null, 'it cannot cancel a run');
select throws_ok($$ delete from pgflow.runs $$, '42501', null, 'it cannot delete runs');
select throws_ok($$ select pgflow.requeue_stalled_tasks() $$, '42501', null, 'it cannot run the maintenance sweep');

reset role;
select * from finish();
rollback;
