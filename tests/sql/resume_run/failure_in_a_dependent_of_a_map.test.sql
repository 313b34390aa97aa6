-- A run fails in the step that depends on a completed map (twice: resumed, it fails again, and is
-- resumed again). The map is never run again; only the failed step is, with fresh attempts; the
-- counts, events and final output are those of a run that never failed.
begin;
select plan(17);

select pgflow.create_flow('rc_resume_dep', max_attempts => 2, base_delay => 0);
select pgflow.add_step('rc_resume_dep', 'items', step_type => 'map');
select pgflow.add_step('rc_resume_dep', 'total', deps_slugs => array['items']);
select pgflow.add_step('rc_resume_dep', 'report', deps_slugs => array['total']);
select r.run_id as run_id from pgflow.start_flow('rc_resume_dep', '[1, 2, 3]') as r \gset

select is(pgflow_tests.rc_run_step(:'run_id', 'items', '7'), 3, 'the map completes');
create temp table map_tasks on commit drop as
select to_jsonb(st) as t from pgflow.step_tasks as st where st.run_id = :'run_id' and st.step_slug = 'items';

-- total fails twice (max_attempts 2): step and run failed
select pgflow_tests.rc_start_all(:'run_id');
select pgflow.fail_task(:'run_id', 'total', 0, 'first');
select pgflow_tests.rc_start_all(:'run_id');
select pgflow.fail_task(:'run_id', 'total', 0, 'second');
select is(
    (select row(r.status, r.remaining_steps)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('failed', 2)::text,
    'the run failed in total'
);
select count(*) as events_before from pgflow_tests.run_events(:'run_id') \gset

select is((pgflow.resume_run(:'run_id')).status, 'started', 'resumed');
select is(
    (select row(st.status, st.attempts_count, st.error_message)::text
     from pgflow.step_tasks as st where st.run_id = :'run_id' and st.step_slug = 'total'),
    row('queued', 0, null::text)::text,
    'total is queued again with fresh attempts'
);
select is(
    (select row(ss.status, ss.remaining_tasks, ss.error_message)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'total'),
    row('started', 1, null::text)::text,
    'total is started again, its error cleared'
);
select is(
    (select row(ss.status, ss.output)::text from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'items'),
    row('completed', '[7, 7, 7]'::jsonb)::text,
    'the map stays completed with its output'
);
select set_eq(
    $$select to_jsonb(st) from pgflow.step_tasks as st where st.run_id = (select (mt.t ->> 'run_id')::uuid from map_tasks as mt limit 1) and st.step_slug = 'items'$$,
    $$select mt.t from map_tasks as mt$$,
    'the map''s tasks are untouched'
);
select is(pgflow_tests.rctl_visible(:'run_id'), 1, 'one message to read: total''s');

-- fails again (both attempts), resumed again
select pgflow_tests.rc_start_all(:'run_id');
select pgflow.fail_task(:'run_id', 'total', 0, 'third');
select pgflow_tests.rc_start_all(:'run_id');
select pgflow.fail_task(:'run_id', 'total', 0, 'fourth');
select is((select r.status from pgflow.runs as r where r.run_id = :'run_id'), 'failed', 'it fails again');
select is((pgflow.resume_run(:'run_id')).status, 'started', 'and is resumed again');

-- this time it works
select is(pgflow_tests.rc_run_step(:'run_id', 'total', '21'), 1, 'total completes');
select is(
    (select st.attempts_count from pgflow.step_tasks as st where st.run_id = :'run_id' and st.step_slug = 'total'),
    1,
    'on the first attempt since the resume'
);
select is(pgflow_tests.rc_run_step(:'run_id', 'report', '"done"'), 1, 'report completes');
select is(
    (select row(r.status, r.remaining_steps, r.output, r.failed_at)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('completed', 0, '{"report": "done"}'::jsonb, null::timestamptz)::text,
    'the run completes with its output'
);
select is(
    (select count(*)::int from pgflow.step_tasks as st where st.run_id = :'run_id' and st.step_slug = 'items'),
    3,
    'the map never got more tasks'
);
select is(
    (select array_agg(e.event) from (select * from pgflow_tests.run_events(:'run_id') offset :events_before) as e),
    array['run:resumed', 'step:total:started', 'step:total:failed', 'run:failed',
          'run:resumed', 'step:total:started', 'step:total:completed', 'step:report:started',
          'step:report:completed', 'run:completed'],
    'events from the first failure on'
);
select is(pgflow_tests.rc_queue_count('rc_resume_dep'), 0, 'the queue is empty');

select * from finish();
rollback;
