-- One complete_tasks batch may hold tasks of several runs: each run ends as it does when driven
-- alone with complete_task (the ready steps of all the batch's runs start in one pass, with one
-- send_batch per flow, each task paired with its own message).
begin;
select plan(3);

select pgflow.create_flow('ctb_many');
select pgflow.add_step('ctb_many', 'a');
select pgflow.add_step('ctb_many', 'b', array['a']);
select pgflow.add_step('ctb_many', 'm', array['b'], step_type => 'map');
select pgflow.add_step('ctb_many', 'c', array['m']);
select pgflow.add_step('ctb_many', 'd', array['a']);

-- the reference: one run driven task by task
select run_id as ref from pgflow.start_flow('ctb_many', '{}') \gset
select pgflow_tests.ctb_drive(:'ref', '{"b": [1, 2]}', false);

-- a second flow with the same shape, four runs driven together
select pgflow.create_flow('ctb_many2');
select pgflow.add_step('ctb_many2', 'a');
select pgflow.add_step('ctb_many2', 'b', array['a']);
select pgflow.add_step('ctb_many2', 'm', array['b'], step_type => 'map');
select pgflow.add_step('ctb_many2', 'c', array['m']);
select pgflow.add_step('ctb_many2', 'd', array['a']);
select count(*) from (select pgflow.start_flow('ctb_many2', '{}') from generate_series(1, 4)) as s;
select pgflow_tests.ctb_drive_flow('ctb_many2', '{"b": [1, 2]}');

select is(
    (select count(*)::int from pgflow.runs where flow_slug = 'ctb_many2' and status = 'completed'), 4,
    'every run completes'
);
select is(
    (
        select count(*)::int from pgflow.runs as r
        where r.flow_slug = 'ctb_many2'
        and pgflow_tests.ctb_snapshot(r.run_id) <> pgflow_tests.ctb_snapshot(:'ref')
    ),
    0, 'each run ends like the reference run (states, outputs, tasks, events, messages)'
);
select is(
    (
        select sum((pgflow_tests.ctb_snapshot(r.run_id) ->> 'messages_not_matching_their_task')::int)::int
        from pgflow.runs as r where r.flow_slug = 'ctb_many2'
    ),
    0, 'every task has its own message'
);

select * from finish();
rollback;
