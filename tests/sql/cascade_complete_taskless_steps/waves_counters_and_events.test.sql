begin;
select plan(8);

-- root map r over the input; a (map) and b (single) depend on r; j joins a and b
select pgflow.create_flow('rc_waves');
select pgflow.add_step('rc_waves', 'r', step_type => 'map');
select pgflow.add_step('rc_waves', 'a', array['r'], step_type => 'map');
select pgflow.add_step('rc_waves', 'b', array['r']);
select pgflow.add_step('rc_waves', 'j', array['a', 'b']);

-- build the run by hand (no scheduling) to call the cascade directly
insert into pgflow.runs (run_id, flow_slug, input, remaining_steps)
values ('00000000-0000-0000-0000-00000000c001', 'rc_waves', '[]', 4);
insert into pgflow.step_states (flow_slug, run_id, step_slug, remaining_deps, initial_tasks)
values ('rc_waves', '00000000-0000-0000-0000-00000000c001', 'r', 0, 0),
       ('rc_waves', '00000000-0000-0000-0000-00000000c001', 'a', 1, null),
       ('rc_waves', '00000000-0000-0000-0000-00000000c001', 'b', 1, 1),
       ('rc_waves', '00000000-0000-0000-0000-00000000c001', 'j', 2, 1);
\set run '00000000-0000-0000-0000-00000000c001'

select is(pgflow.cascade_complete_taskless_steps(:'run'), 2, 'r then a complete (2 steps in 2 waves)');
select results_eq(
    $$ select step_slug, status, remaining_deps, initial_tasks, remaining_tasks, output,
              started_at = completed_at and completed_at is not null
       from pgflow.step_states where run_id = '00000000-0000-0000-0000-00000000c001' order by step_slug $$,
    $$ values ('a'::text, 'completed'::text, 0, 0, 0, '[]'::jsonb, true),
              ('b', 'created', 0, 1, null::int, null::jsonb, false),
              ('j', 'created', 1, 1, null, null, false),
              ('r', 'completed', 0, 0, 0, '[]', true) $$,
    'maps completed with []; the single child b is unblocked but keeps 1 task; j still waits for b'
);
select is((select remaining_steps from pgflow.runs where run_id = :'run'), 2, 'remaining_steps drops by 2');
select is((select status from pgflow.runs where run_id = :'run'), 'started', 'the cascade does not complete the run');
select is(
    pgflow_tests.rc_event_names(:'run'), array['step:r:completed', 'step:a:completed'], 'events in topological order'
);
select is(
    (select payload - 'id' - 'started_at' - 'completed_at' from pgflow_tests.run_events(:'run')
     where event = 'step:a:completed'),
    jsonb_build_object(
        'event_type', 'step:completed', 'run_id', :'run'::uuid, 'step_slug', 'a', 'status', 'completed',
        'remaining_tasks', 0, 'remaining_deps', 0, 'output', '[]'::jsonb
    ),
    'taskless step:completed payload (plus started_at, completed_at)'
);
select ok(
    (select payload ?& array['started_at', 'completed_at'] from pgflow_tests.run_events(:'run')
     where event = 'step:a:completed'),
    'taskless step:completed carries started_at and completed_at'
);
select is(pgflow.cascade_complete_taskless_steps(:'run'), 0, 'a second call completes nothing');

select * from finish();
rollback;
