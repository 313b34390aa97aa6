begin;
select plan(16);

select pgflow.create_flow('rc_tv', max_attempts => 3);
select pgflow.add_step('rc_tv', 'items');
select pgflow.add_step('rc_tv', 'each', array['items'], step_type => 'map');
select pgflow.add_step('rc_tv', 'other');
select pgflow.add_step('rc_tv', 'rm', step_type => 'map', when_exhausted => 'skip');

-- rc_tv has a root map, so the input is an array
select run_id as run from pgflow.start_flow('rc_tv', '[1,2,3]') \gset
-- start items and other; rm's three tasks stay queued
select pgflow_tests.ensure_worker('rc_tv');
select count(*) from pgflow.start_tasks(
    'rc_tv',
    (select array_agg(message_id) from pgflow.step_tasks where run_id = :'run' and step_slug in ('items', 'other')),
    '11111111-1111-1111-1111-111111111111'
);
select is(pgflow_tests.rc_queue_count('rc_tv'), 5, 'five messages before (items, other, rm x3)');

select is(
    (select row(status, error_message, output) from pgflow.complete_task(:'run', 'items', 0, '{"k":1}')),
    row('failed'::text, '[TYPE_VIOLATION] Produced object instead of array'::text, '{"k":1}'::jsonb),
    'the task fails with the offending output stored'
);
select is(
    (select row(status, error_message, failed_at is not null, output) from pgflow.step_states
     where run_id = :'run' and step_slug = 'items'),
    row('failed'::text, '[TYPE_VIOLATION] Map step each expects array input but dependency items produced object'::text,
        true, null::jsonb),
    'the step fails with the [TYPE_VIOLATION] message'
);
select is(
    (select row(status, failed_at is not null, remaining_steps) from pgflow.runs where run_id = :'run'),
    row('failed'::text, true, 4), 'the run fails at once, remaining_steps untouched (retries ignored)'
);
select is(pgflow_tests.rc_queue_count('rc_tv'), 0, 'every message of the run is archived');
select is(pgflow_tests.rc_archive_count('rc_tv'), 5, 'all five in the archive');
select results_eq(
    $$ select step_slug, task_index, status from pgflow.step_tasks
       where run_id = (select run_id from pgflow.runs where flow_slug = 'rc_tv') and step_slug <> 'items'
       order by step_slug, task_index $$,
    $$ values ('other'::text, 0, 'started'::text), ('rm', 0, 'queued'), ('rm', 1, 'queued'), ('rm', 2, 'queued') $$,
    'other tasks keep their status; only their messages went'
);
select is(
    pgflow_tests.rc_event_names(:'run'),
    array['run:started', 'step:items:started', 'step:other:started', 'step:rm:started', 'run:failed',
          'step:items:failed'],
    'run:failed then step:items:failed'
);
select is(
    (select payload - 'id' - 'failed_at' from pgflow_tests.run_events(:'run') where event = 'run:failed'),
    jsonb_build_object('event_type', 'run:failed', 'run_id', :'run'::uuid, 'flow_slug', 'rc_tv', 'status', 'failed'),
    'run:failed payload has no error_message key'
);
select is(
    (select payload - 'id' - 'failed_at' from pgflow_tests.run_events(:'run') where event = 'step:items:failed'),
    jsonb_build_object(
        'event_type', 'step:failed', 'run_id', :'run'::uuid, 'step_slug', 'items', 'status', 'failed',
        'error_message', '[TYPE_VIOLATION] Map step each expects array input but dependency items produced object'
    ),
    'step:failed payload'
);

-- later callbacks on the failed run change nothing
select is(
    (select status from pgflow.complete_task(:'run', 'other', 0, '"late"')), 'started',
    'a later complete_task on the failed run returns the row unchanged'
);
select is(
    (select count(*)::int from pgflow_tests.run_events(:'run')), 6, 'and emits nothing'
);
select is(
    (select status from pgflow.step_states where run_id = :'run' and step_slug = 'other'), 'started',
    'the other step keeps its status'
);

-- SQL NULL and other scalar outputs
select run_id as run2 from pgflow.start_flow('rc_tv', '[]') \gset
select pgflow_tests.rc_start_all(:'run2');
select is(
    (select error_message from pgflow.complete_task(:'run2', 'items', 0, null)),
    '[TYPE_VIOLATION] Produced null instead of array', 'SQL NULL output is reported as null'
);
select is(
    (select error_message from pgflow.step_states where run_id = :'run2' and step_slug = 'items'),
    '[TYPE_VIOLATION] Map step each expects array input but dependency items produced null', 'step message for null'
);
select run_id as run3 from pgflow.start_flow('rc_tv', '[]') \gset
select pgflow_tests.rc_start_all(:'run3');
select is(
    (select error_message from pgflow.complete_task(:'run3', 'items', 0, '"text"')),
    '[TYPE_VIOLATION] Produced string instead of array', 'a string output is a violation too'
);

select * from finish();
rollback;
