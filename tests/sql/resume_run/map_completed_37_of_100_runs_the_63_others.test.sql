-- A root map of 100 elements fails after 37 of its tasks completed (one task exhausts its
-- attempts; the other 62 were started or queued). resume_run keeps the 37 outputs, queues the 63
-- others with fresh attempts, a worker reads exactly those 63, and the step aggregates all 100
-- outputs in task_index order; the run then completes as if it had never failed.
begin;
select plan(22);

select pgflow.create_flow('rc_resume_map', max_attempts => 1);
select pgflow.add_step('rc_resume_map', 'square', step_type => 'map');
select pgflow.add_step('rc_resume_map', 'total', deps_slugs => array['square']);
select r.run_id as run_id
from pgflow.start_flow('rc_resume_map', (select jsonb_agg(i) from generate_series(0, 99) as i)) as r \gset
select pgflow_tests.ensure_worker('rc_resume_map');

-- every task started; 37 scattered ones complete (i * 7 mod 100 < 37), task 50 fails for good
select is(
    (select count(*)::int from pgflow.read_and_start_tasks('rc_resume_map', '11111111-1111-1111-1111-111111111111', 30, 100)),
    100,
    '100 map tasks started'
);
select is(
    (select count(*)::int
     from generate_series(0, 99) as i,
         lateral pgflow.complete_task(:'run_id', 'square', i, to_jsonb(i * 10)) as t
     where (i * 7) % 100 < 37),
    37,
    '37 tasks completed'
);
select is(
    (select t.status from pgflow.fail_task(:'run_id', 'square', 50, 'boom') as t), 'failed', 'task 50 fails for good'
);
select is((select r.status from pgflow.runs as r where r.run_id = :'run_id'), 'failed', 'the run failed');
select count(*) as events_before from pgflow_tests.run_events(:'run_id') \gset
create temp table completed_before on commit drop as
select st.* from pgflow.step_tasks as st where st.run_id = :'run_id' and st.status = 'completed';

-- resume
select is(
    (select row(r.status, r.remaining_steps, r.failed_at)::text from pgflow.resume_run(:'run_id') as r),
    row('started', 2, null::timestamptz)::text,
    'resume_run returns the run started again, remaining_steps unchanged'
);
select is(
    (select row(ss.status, ss.remaining_tasks, ss.initial_tasks, ss.error_message, ss.failed_at)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'square'),
    row('started', 63, 100, null::text, null::timestamptz)::text,
    'the map step is started again with 63 tasks remaining'
);
select is(pgflow_tests.rctl_task_statuses(:'run_id', 'square'), array['completed:37', 'queued:63'], '37 completed, 63 queued');
select set_eq(
    $$select to_jsonb(st) from pgflow.step_tasks as st
      where st.run_id = (select cb.run_id from completed_before as cb limit 1) and st.status = 'completed'$$,
    $$select to_jsonb(cb) from completed_before as cb$$,
    'the 37 completed tasks are untouched (outputs, attempts, timestamps, messages)'
);
select is(
    (select count(*)::int from pgflow.step_tasks as st
     where st.run_id = :'run_id' and st.status = 'queued'
        and st.attempts_count = 0 and st.error_message is null and st.started_at is null and st.failed_at is null),
    63,
    'the 63 others are queued with fresh attempts and no error'
);
select is(pgflow_tests.rctl_visible(:'run_id'), 63, '63 messages of the run are visible');

-- a worker reads exactly the 63 others
create temp table second_round on commit drop as
select * from pgflow.read_and_start_tasks('rc_resume_map', '11111111-1111-1111-1111-111111111111', 30, 1000);
select is((select count(*)::int from second_round), 63, 'a worker starts exactly 63 tasks');
select set_eq(
    $$select task_index from second_round$$,
    $$select i from generate_series(0, 99) as i where (i * 7) % 100 >= 37$$,
    '... the ones that had not completed'
);
select is(
    (select array_agg(distinct sr.attempts_count) from second_round as sr), array[1], 'each on its first attempt'
);
select is(
    (select count(*)::int from second_round as sr,
        lateral pgflow.complete_task(sr.run_id, sr.step_slug, sr.task_index, to_jsonb(sr.task_index * 10)) as t),
    63,
    'the 63 complete'
);
select is(
    (select ss.output from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'square'),
    (select jsonb_agg(i * 10 order by i) from generate_series(0, 99) as i),
    'the map aggregates all 100 outputs in task_index order'
);
select is(
    (select ss.status from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'total'),
    'started',
    'its dependent starts'
);
select is(pgflow_tests.rc_run_step(:'run_id', 'total', '49500'), 1, 'the dependent completes');
select is(
    (select row(r.status, r.remaining_steps, r.output)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('completed', 0, '{"total": 49500}'::jsonb)::text,
    'the run completes with its output'
);
select is(
    (select array_agg(e.event) from (select * from pgflow_tests.run_events(:'run_id') offset :events_before) as e),
    array['run:resumed', 'step:square:started', 'step:square:completed', 'step:total:started',
          'step:total:completed', 'run:completed'],
    'events after the failure: resumed, then those of a run that never failed'
);
select is(
    (select count(*)::int from pgflow.step_tasks as st where st.run_id = :'run_id' and st.step_slug = 'square'),
    100,
    'no task row was added'
);
select is(pgflow_tests.rc_queue_count('rc_resume_map'), 0, 'the queue is empty');
select is(
    (pgflow_tests.ctb_snapshot(:'run_id') ->> 'messages_not_matching_their_task')::int,
    0,
    'every task has exactly its own message (in the archive)'
);

select * from finish();
rollback;
