-- Spec §6.6: fetch -> items -> each (map) -> save.
begin;
select plan(22);

select pgflow.create_flow('rc_demo');
select pgflow.add_step('rc_demo', 'fetch');
select pgflow.add_step('rc_demo', 'items', array['fetch']);
select pgflow.add_step('rc_demo', 'each', array['items'], step_type => 'map');
select pgflow.add_step('rc_demo', 'save', array['each']);

create temp table t_run as
select r.run_id from pgflow.start_flow('rc_demo', '{"url":"x"}') as r;

select is((select remaining_steps from pgflow.runs where run_id = (select run_id from t_run)), 4, 'remaining_steps 4');
select results_eq(
    $$ select step_slug, remaining_deps, initial_tasks from pgflow.step_states
       where run_id = (select run_id from t_run) order by step_slug $$,
    $$ values ('each'::text, 1, null::int), ('fetch', 0, 1), ('items', 1, 1), ('save', 1, 1) $$,
    'step states: remaining_deps and initial_tasks (NULL for the dependent map)'
);
select is(
    (select count(*)::int from pgflow.step_tasks where run_id = (select run_id from t_run)), 1,
    'only fetch has a task'
);

create temp table t_fetch as select * from pgflow_tests.rc_start_all((select run_id from t_run));
select is((select input from t_fetch), '{}'::jsonb, 'fetch input is {}');
select is((select flow_input from t_fetch), '{"url":"x"}'::jsonb, 'fetch flow_input is the run input');

select is(
    (select status from pgflow.complete_task((select run_id from t_run), 'fetch', 0, '{"n":3}')),
    'completed', 'complete_task returns the completed task row'
);
select is(
    (select output from pgflow.step_states where run_id = (select run_id from t_run) and step_slug = 'fetch'),
    '{"n":3}'::jsonb, 'fetch output stored on the step state'
);
select is((select remaining_steps from pgflow.runs where run_id = (select run_id from t_run)), 3, 'remaining_steps 3');
select is(
    (select status from pgflow.step_states where run_id = (select run_id from t_run) and step_slug = 'items'),
    'started', 'items started'
);

create temp table t_items as select * from pgflow_tests.rc_start_all((select run_id from t_run));
select is((select input from t_items), '{"fetch":{"n":3}}'::jsonb, 'items input is {fetch: output}');
select is((select flow_input from t_items), null::jsonb, 'items flow_input is NULL');

select pgflow.complete_task((select run_id from t_run), 'items', 0, '["a","b","c"]');
select is(
    (select initial_tasks from pgflow.step_states where run_id = (select run_id from t_run) and step_slug = 'each'),
    3, 'each.initial_tasks = length of items output'
);
create temp table t_each as select * from pgflow_tests.rc_start_all((select run_id from t_run));
select results_eq(
    $$ select task_index, input, flow_input from t_each order by task_index $$,
    $$ values (0, '"a"'::jsonb, null::jsonb), (1, '"b"', null), (2, '"c"', null) $$,
    'each tasks get the bare elements, flow_input NULL'
);

select pgflow.complete_task((select run_id from t_run), 'each', 2, '"C"');
select pgflow.complete_task((select run_id from t_run), 'each', 0, '"A"');
select is(
    (select row(status, remaining_tasks, output) from pgflow.step_states
     where run_id = (select run_id from t_run) and step_slug = 'each'),
    row('started'::text, 1, null::jsonb), 'each still started with one task left and no output yet'
);
select pgflow.complete_task((select run_id from t_run), 'each', 1, '"B"');
select is(
    (select output from pgflow.step_states where run_id = (select run_id from t_run) and step_slug = 'each'),
    '["A","B","C"]'::jsonb, 'map output ordered by task_index whatever the completion order'
);

create temp table t_save as select * from pgflow_tests.rc_start_all((select run_id from t_run));
select is((select input from t_save), '{"each":["A","B","C"]}'::jsonb, 'save input is {each: [...]}');

select pgflow.complete_task((select run_id from t_run), 'save', 0, '{"ok":true}');
select is(
    (select row(status, remaining_steps, output) from pgflow.runs where run_id = (select run_id from t_run)),
    row('completed'::text, 0, '{"save":{"ok":true}}'::jsonb), 'run completed with leaf outputs'
);
select isnt((select completed_at from pgflow.runs where run_id = (select run_id from t_run)), null, 'completed_at set');
select is(
    pgflow_tests.rc_event_names((select run_id from t_run)),
    array[
        'run:started', 'step:fetch:started', 'step:fetch:completed', 'step:items:started', 'step:items:completed',
        'step:each:started', 'step:each:completed', 'step:save:started', 'step:save:completed', 'run:completed'
    ],
    'events, parents before children'
);
select is(pgflow_tests.rc_queue_count('rc_demo'), 0, 'no message left in the queue');
select is(pgflow_tests.rc_archive_count('rc_demo'), 6, 'all 6 task messages archived');
select is(
    (select payload - 'id' - 'completed_at' from pgflow_tests.run_events((select run_id from t_run))
     where event = 'run:completed'),
    jsonb_build_object(
        'event_type', 'run:completed', 'run_id', (select run_id from t_run), 'flow_slug', 'rc_demo',
        'status', 'completed', 'output', '{"save":{"ok":true}}'::jsonb
    ),
    'run:completed payload keys'
);

select * from finish();
rollback;
