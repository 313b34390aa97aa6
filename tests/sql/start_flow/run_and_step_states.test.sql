begin;
select plan(12);

select pgflow.create_flow('rc_sf', timeout => 30);
select pgflow.add_step('rc_sf', 'root_single');
select pgflow.add_step('rc_sf', 'root_map', step_type => 'map');
select pgflow.add_step('rc_sf', 'child_map', array['root_map'], step_type => 'map');
select pgflow.add_step('rc_sf', 'join', array['root_single', 'child_map']);

select is(
    (select count(*)::int from pgflow.start_flow('rc_sf', '[1,2,3]', '00000000-0000-0000-0000-00000000a001')),
    1, 'start_flow returns exactly one row'
);
\set run '00000000-0000-0000-0000-00000000a001'
select is(
    (select row(flow_slug, status, input, remaining_steps) from pgflow.runs where run_id = :'run'),
    row('rc_sf'::text, 'started'::text, '[1,2,3]'::jsonb, 4),
    'the given run_id is used; status started, remaining_steps = number of steps'
);
select results_eq(
    $$ select step_slug, status, remaining_deps, initial_tasks, remaining_tasks from pgflow.step_states
       where run_id = '00000000-0000-0000-0000-00000000a001' order by step_slug $$,
    $$ values ('child_map'::text, 'created'::text, 1, null::int, null::int),
              ('join', 'created', 2, 1, null),
              ('root_map', 'started', 0, 3, 3),
              ('root_single', 'started', 0, 1, 1) $$,
    'step states: initial_tasks 1 / len(input) / NULL; roots started with remaining_tasks'
);
select results_eq(
    $$ select step_slug, task_index, status, attempts_count from pgflow.step_tasks
       where run_id = '00000000-0000-0000-0000-00000000a001' order by step_slug, task_index $$,
    $$ values ('root_map'::text, 0, 'queued'::text, 0), ('root_map', 1, 'queued', 0), ('root_map', 2, 'queued', 0),
              ('root_single', 0, 'queued', 0) $$,
    'one queued task per element of the root map and one for the root single step'
);
select is(
    (select payload - 'id' - 'started_at' from pgflow_tests.run_events(:'run') where event = 'run:started'),
    jsonb_build_object(
        'event_type', 'run:started', 'run_id', :'run'::uuid, 'flow_slug', 'rc_sf', 'input', '[1,2,3]'::jsonb,
        'status', 'started', 'remaining_steps', 4
    ),
    'run:started payload'
);
select ok(
    (select payload ? 'started_at' from pgflow_tests.run_events(:'run') where event = 'run:started'),
    'run:started carries started_at'
);
select is(
    (select payload - 'id' - 'started_at' from pgflow_tests.run_events(:'run') where event = 'step:root_map:started'),
    jsonb_build_object(
        'event_type', 'step:started', 'run_id', :'run'::uuid, 'step_slug', 'root_map', 'status', 'started',
        'remaining_tasks', 3, 'remaining_deps', 0
    ),
    'step:started payload'
);
select is(
    pgflow_tests.rc_event_names(:'run'),
    array['run:started', 'step:root_single:started', 'step:root_map:started'],
    'run:started first, then step starts in step_index order'
);
select ok(
    not exists (select 1 from pgflow_tests.run_events(:'run') where event like 'run:%' and payload ? 'step_slug'),
    'run events carry no step_slug'
);

-- a second run gets a random id
select isnt(
    (select run_id from pgflow.start_flow('rc_sf', '[]')), null, 'without run_id a random uuid is used'
);
select throws_ok(
    $$ select pgflow.start_flow('rc_no_such_flow', '{}') $$,
    '23503',
    'insert or update on table "runs" violates foreign key constraint "runs_flow_slug_fkey"',
    'unknown flow'
);
select pgflow.create_flow('rc_sf_single');
select pgflow.add_step('rc_sf_single', 'only');
select throws_like(
    $$ select pgflow.start_flow('rc_sf_single', null) $$,
    '%null value in column "input"%',
    'NULL input on a flow without root maps fails the NOT NULL of runs.input'
);

select * from finish();
rollback;
