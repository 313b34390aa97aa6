begin;
select plan(7);

-- a run with 1,000 map tasks (600 started, 400 queued) and another root step, failed by one task
select pgflow.create_flow('ft_bigfail', max_attempts => 1);
select pgflow.add_step('ft_bigfail', 'fan', step_type => 'map');
select r.run_id as run_id
from pgflow.start_flow('ft_bigfail', (select jsonb_agg(g) from generate_series(1, 1000) as g)) as r \gset

-- another run of the same flow that must keep its messages
select r.run_id as bystander from pgflow.start_flow('ft_bigfail', '[1, 2]') as r \gset

select is((select count(*)::int from pgflow_tests.queue_messages('ft_bigfail')), 1002, '1,002 messages queued');
select is(
    (select count(*)::int from pgflow_tests.read_and_start('ft_bigfail', 30, 600) as t where t.run_id = :'run_id'),
    600,
    '600 tasks of the run started (their messages invisible)'
);

select is((select t.status from pgflow.fail_task(:'run_id', 'fan', 7, 'boom') as t), 'failed', 'one task exhausts');
select is((select r.status from pgflow.runs as r where r.run_id = :'run_id'), 'failed', 'the run is failed');
select is(
    (select count(*)::int from pgflow_tests.queue_messages('ft_bigfail') as q where (q.message ->> 'run_id')::uuid = :'run_id'),
    0,
    'no visible or invisible message of the failed run is left in pgmq.q_ft_bigfail'
);
select is(
    (select count(*)::int from pgflow_tests.archived_msg_ids('ft_bigfail')), 1000, 'all 1,000 are archived'
);
select is(
    (select count(*)::int from pgflow_tests.queue_messages('ft_bigfail') as q where (q.message ->> 'run_id')::uuid = :'bystander'),
    2,
    'messages of another run of the flow stay'
);

select * from finish();
rollback;
