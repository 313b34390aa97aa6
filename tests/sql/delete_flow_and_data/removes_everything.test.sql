begin;
select plan(9);

select pgflow.create_flow('dfd_flow');
select pgflow.add_step('dfd_flow', 'a');
select pgflow.add_step('dfd_flow', 'b', array['a']);
select pgflow.create_flow('dfd_keep');
select pgflow.add_step('dfd_keep', 'a');
select pgflow.start_flow('dfd_flow', '{"x": 1}');
select pgflow.start_flow('dfd_keep', '{"x": 1}');
select pgflow_tests.read_and_start('dfd_flow');

select ok((select count(*) > 0 from pgflow.step_tasks where flow_slug = 'dfd_flow'), 'setup: the flow has tasks');

select lives_ok($$ select pgflow.delete_flow_and_data(p_flow_slug => 'dfd_flow') $$, 'deletes a flow with runs');

select ok(not exists (select 1 from pgmq.list_queues() as q where q.queue_name = 'dfd_flow'), 'its queue is dropped');
select is(
    (select array[
        (select count(*) from pgflow.step_tasks where flow_slug = 'dfd_flow'),
        (select count(*) from pgflow.step_states where flow_slug = 'dfd_flow'),
        (select count(*) from pgflow.runs where flow_slug = 'dfd_flow'),
        (select count(*) from pgflow.deps where flow_slug = 'dfd_flow'),
        (select count(*) from pgflow.steps where flow_slug = 'dfd_flow'),
        (select count(*) from pgflow.flows where flow_slug = 'dfd_flow')
    ]::int []),
    array[0, 0, 0, 0, 0, 0],
    'tasks, step states, runs, deps, steps and the flow are deleted'
);
select is(
    (select array[
        (select count(*) from pgflow.step_states where flow_slug = 'dfd_keep'),
        (select count(*) from pgflow.runs where flow_slug = 'dfd_keep'),
        (select count(*) from pgflow.steps where flow_slug = 'dfd_keep')
    ]::int []),
    array[1, 1, 1],
    'other flows are untouched'
);
select ok(exists (select 1 from pgmq.list_queues() as q where q.queue_name = 'dfd_keep'), 'and keep their queue');

-- a flow whose queue is already gone, and a flow that does not exist
select pgflow.create_flow('dfd_noqueue');
select pgmq.drop_queue('dfd_noqueue');
select lives_ok($$ select pgflow.delete_flow_and_data('dfd_noqueue') $$, 'a missing queue is tolerated');
select ok(not exists (select 1 from pgflow.flows where flow_slug = 'dfd_noqueue'), 'and the flow row is deleted');
select lives_ok($$ select pgflow.delete_flow_and_data('dfd_never_existed') $$, 'an unknown flow is not an error');

select * from finish();
rollback;
