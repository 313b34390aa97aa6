-- Steps unblocked by the taskless cascade get their conditions evaluated before they start
-- (pgflow 0.14.1 starts them unevaluated, spec §13 quirk 3; we implement the intent).
begin;
select plan(7);

-- in start_flow: an empty root map unblocks a conditional child
select pgflow.create_flow('rc_cond_sf');
select pgflow.add_step('rc_cond_sf', 'items', step_type => 'map');
select pgflow.add_step('rc_cond_sf', 'check', array['items'], required_input_pattern => '{"items":[1]}');
select pgflow.add_step('rc_cond_sf', 'always', array['items']);
select run_id as run from pgflow.start_flow('rc_cond_sf', '[]') \gset

select results_eq(
    $$ select step_slug, status, skip_reason from pgflow.step_states
       where run_id = (select run_id from pgflow.runs where flow_slug = 'rc_cond_sf') order by step_slug $$,
    $$ values ('always'::text, 'started'::text, null::text), ('check', 'skipped', 'condition_unmet'),
              ('items', 'completed', null) $$,
    'start_flow: the conditional child of an empty map is evaluated (skipped), the plain one starts'
);
select is((select remaining_steps from pgflow.runs where run_id = :'run'), 1, 'remaining_steps counts the skip');
select is(
    (select count(*)::int from pgflow.step_tasks where run_id = :'run' and step_slug = 'check'), 0,
    'no task for the skipped step'
);

-- in complete_task: a parent output [] makes the map taskless; its child has a failing condition
select pgflow.create_flow('rc_cond_ct');
select pgflow.add_step('rc_cond_ct', 'src');
select pgflow.add_step('rc_cond_ct', 'm', array['src'], step_type => 'map');
select pgflow.add_step('rc_cond_ct', 'gate', array['m'], forbidden_input_pattern => '{"m":[]}', when_unmet => 'fail');
select run_id as run2 from pgflow.start_flow('rc_cond_ct', '{}') \gset
select pgflow_tests.rc_start_all(:'run2');

select is(
    (select status from pgflow.complete_task(:'run2', 'src', 0, '[]')), 'completed',
    'complete_task returns the completed task'
);
select is(
    (select row(status, error_message) from pgflow.step_states where run_id = :'run2' and step_slug = 'gate'),
    row('failed'::text, 'Condition not met'::text), 'the child of the taskless map is evaluated and fails'
);
select is((select status from pgflow.runs where run_id = :'run2'), 'failed', 'and fails the run');
select is(pgflow_tests.rc_queue_count('rc_cond_ct'), 0, 'the completed task''s message is archived');

select * from finish();
rollback;
