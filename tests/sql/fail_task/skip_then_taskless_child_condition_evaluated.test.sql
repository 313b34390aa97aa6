-- A step skipped after exhausting its retries unblocks a map that becomes taskless; the step after
-- that map is condition-checked before it starts (not started unevaluated, spec §13 quirk 3).
begin;
select plan(4);

select pgflow.create_flow('ft_skip_cond', max_attempts => 1);
select pgflow.add_step('ft_skip_cond', 'a', when_exhausted => 'skip');
select pgflow.add_step('ft_skip_cond', 'm', array['a'], step_type => 'map');
select pgflow.add_step('ft_skip_cond', 'c', array['m'], required_input_pattern => '{"m": [1]}');

select run_id as rid from pgflow.start_flow('ft_skip_cond', '{}') \gset
select * from pgflow_tests.read_and_start('ft_skip_cond');
select * from pgflow.fail_task(:'rid', 'a', 0, 'boom');

select is(
    (select status from pgflow.step_states where run_id = :'rid' and step_slug = 'm'),
    'completed', 'the map fed by the skipped step completes with no tasks'
);
select is(
    (select row(status, skip_reason) from pgflow.step_states where run_id = :'rid' and step_slug = 'c'),
    row('skipped'::text, 'condition_unmet'::text),
    'its child is evaluated against {"m": []} and skipped, not started'
);
select is(
    (select count(*)::int from pgflow.step_tasks where run_id = :'rid' and step_slug = 'c'), 0,
    'no task was created for the skipped child'
);
select is(
    (select status from pgflow.runs where run_id = :'rid'), 'completed',
    'every step is skipped or completed, so the run completes'
);

select * from finish();
rollback;
