-- Full lifecycle: two roots (left, right), a join of both, and a tail after the join.
begin;
select plan(16);

select pgflow.create_flow('rc_life');
select pgflow.add_step('rc_life', 'left');
select pgflow.add_step('rc_life', 'right');
select pgflow.add_step('rc_life', 'join', array['left', 'right']);
select pgflow.add_step('rc_life', 'tail', array['join']);

select run_id as run from pgflow.start_flow('rc_life', '{"user":42}') \gset

create temp table t_roots as select * from pgflow_tests.rc_start_all(:'run');
select results_eq(
    $$ select step_slug, input, flow_input from t_roots order by step_slug $$,
    $$ values ('left'::text, '{}'::jsonb, '{"user":42}'::jsonb), ('right', '{}', '{"user":42}') $$,
    'both roots start with {} and the flow input'
);

select pgflow.complete_task(:'run', 'right', 0, '"R"');
select is(
    (select row(status, remaining_deps) from pgflow.step_states where run_id = :'run' and step_slug = 'join'),
    row('created'::text, 1), 'join waits for its second dependency'
);
select is((select remaining_steps from pgflow.runs where run_id = :'run'), 3, 'remaining_steps 3');

select pgflow.complete_task(:'run', 'left', 0, '{"l":1}');
select is(
    (select row(status, remaining_deps, remaining_tasks) from pgflow.step_states
     where run_id = :'run' and step_slug = 'join'),
    row('started'::text, 0, 1), 'join starts once both deps completed'
);
create temp table t_join as select * from pgflow_tests.rc_start_all(:'run');
select is((select input from t_join), '{"left":{"l":1},"right":"R"}'::jsonb, 'join input has both deps');
select is((select flow_input from t_join), null::jsonb, 'join flow_input is NULL');

select pgflow.complete_task(:'run', 'join', 0, '[1,2]');
create temp table t_tail as select * from pgflow_tests.rc_start_all(:'run');
select is((select input from t_tail), '{"join":[1,2]}'::jsonb, 'tail input');

select is(
    (select status from pgflow.complete_task(:'run', 'tail', 0, null)), 'completed',
    'a NULL output completes a single step'
);
select is(
    (select row(status, output) from pgflow.step_states where run_id = :'run' and step_slug = 'tail'),
    row('completed'::text, null::jsonb), 'tail completed with NULL output'
);
select is(
    (select row(status, remaining_steps, output) from pgflow.runs where run_id = :'run'),
    row('completed'::text, 0, '{"tail":null}'::jsonb), 'run completed; output has only the leaf'
);
select results_eq(
    $$ select step_slug, status, remaining_tasks, completed_at is not null from pgflow.step_states
       where run_id = (select run_id from pgflow.runs where flow_slug = 'rc_life') order by step_slug $$,
    $$ values ('join'::text, 'completed'::text, 0, true), ('left', 'completed', 0, true),
              ('right', 'completed', 0, true), ('tail', 'completed', 0, true) $$,
    'every step completed with remaining_tasks 0'
);
select is(
    (select count(*)::int from pgflow.step_tasks where run_id = :'run' and status = 'completed'), 4,
    'every task completed'
);
select is(
    pgflow_tests.rc_event_names(:'run'),
    array[
        'run:started', 'step:left:started', 'step:right:started',
        'step:right:completed', 'step:left:completed', 'step:join:started',
        'step:join:completed', 'step:tail:started', 'step:tail:completed', 'run:completed'
    ],
    'event sequence'
);
select is(
    (select payload - 'id' - 'completed_at' from pgflow_tests.run_events(:'run') where event = 'step:left:completed'),
    jsonb_build_object(
        'event_type', 'step:completed', 'run_id', :'run'::uuid, 'step_slug', 'left', 'status', 'completed',
        'output', '{"l":1}'::jsonb
    ),
    'step:completed payload'
);
select is(pgflow_tests.rc_queue_count('rc_life'), 0, 'queue empty');
select is(pgflow_tests.rc_archive_count('rc_life'), 4, 'every message archived');

select * from finish();
rollback;
