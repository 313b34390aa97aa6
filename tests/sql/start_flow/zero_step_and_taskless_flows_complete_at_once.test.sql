begin;
select plan(7);

-- a flow without steps completes inside start_flow
select pgflow.create_flow('rc_empty');
select run_id as run_empty from pgflow.start_flow('rc_empty', '{"x":1}') \gset
select is(
    (select row(status, remaining_steps, output) from pgflow.runs where run_id = :'run_empty'),
    row('completed'::text, 0, null::jsonb), 'zero-step flow: completed at once, output NULL'
);
select is(
    pgflow_tests.rc_event_names(:'run_empty'), array['run:started', 'run:completed'],
    'zero-step flow: run:started then run:completed'
);
select is(
    (select status from pgflow.start_flow('rc_empty', '{}')), 'completed',
    'start_flow returns the run row as it is at the end (completed)'
);

-- a root map over [] and its dependent map complete in the taskless cascade
select pgflow.create_flow('rc_taskless');
select pgflow.add_step('rc_taskless', 'each', step_type => 'map');
select pgflow.add_step('rc_taskless', 'again', array['each'], step_type => 'map');
select run_id as run_tl from pgflow.start_flow('rc_taskless', '[]') \gset
select is(
    (select row(status, output) from pgflow.runs where run_id = :'run_tl'),
    row('completed'::text, '{"again":[]}'::jsonb), 'taskless maps: run completed, empty map output is []'
);
select results_eq(
    $$ select step_slug, status, initial_tasks, remaining_tasks, output from pgflow.step_states
       where run_id = (select run_id from pgflow.runs where flow_slug = 'rc_taskless') order by step_slug $$,
    $$ values ('again'::text, 'completed'::text, 0, 0, '[]'::jsonb), ('each', 'completed', 0, 0, '[]') $$,
    'both maps completed with 0 tasks and output []'
);
select is(
    (select count(*)::int from pgflow.step_tasks where run_id = :'run_tl'), 0, 'no tasks, no messages'
);
select is(
    pgflow_tests.rc_event_names(:'run_tl'),
    array['run:started', 'step:each:completed', 'step:again:completed', 'run:completed'],
    'taskless completions in topological order, then run:completed'
);

select * from finish();
rollback;
