begin;
select plan(14);

-- fail_task on a task that is still queued (its step started): state unchanged, vt pushed (quirk 11)
select pgflow.create_flow('ft_late', max_attempts => 3, base_delay => 7);
select pgflow.add_step('ft_late', 'q');
select r.run_id as run_id from pgflow.start_flow('ft_late', '{}') as r \gset
select count(*) as events_before from pgflow_tests.run_events(:'run_id') \gset

select is(
    (select row(t.status, t.attempts_count, t.error_message)::text from pgflow.fail_task(:'run_id', 'q', 0, 'early') as t),
    row('queued', 0, null::text)::text,
    'a queued task is returned unchanged'
);
select is(
    (select row(ss.status, ss.error_message)::text from pgflow.step_states as ss where ss.run_id = :'run_id'),
    row('started', null::text)::text,
    'its step is unchanged'
);
select is(pgflow_tests.task_vt_in(:'run_id', 'q'), 7, 'but its message is hidden for floor(7 * 2^0) = 7 s');
select is((select count(*)::int from pgflow_tests.archived_msg_ids('ft_late')), 0, 'and not archived');
select is((select count(*)::int from pgflow_tests.run_events(:'run_id')), :events_before, 'no event');

-- unknown tasks and runs
select is(
    (select count(*)::int from pgflow.fail_task(:'run_id', 'q', 5, 'x')), 0, 'an unknown task index returns no row'
);
select is(
    (select count(*)::int from pgflow.fail_task(gen_random_uuid(), 'q', 0, 'x')), 0, 'an unknown run returns no row'
);

-- late callback for a step that already completed (raw fixture: the step completed while this
-- task still looks started, e.g. a lost race)
select pgflow.create_flow('ft_late_done', max_attempts => 3);
select pgflow.add_step('ft_late_done', 'one');
select pgflow.add_step('ft_late_done', 'next', array['one']);
select r.run_id as done_run from pgflow.start_flow('ft_late_done', '{}') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('ft_late_done', 30, 10)), 1, 'one started');
update pgflow.step_states set status = 'completed', remaining_tasks = 0, completed_at = now(), output = '"a"'
where run_id = :'done_run' and step_slug = 'one';
select count(*) as done_events from pgflow_tests.run_events(:'done_run') \gset
select row(r.remaining_steps, ss.remaining_deps) as before_state
from pgflow.runs as r inner join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = 'next'
where r.run_id = :'done_run' \gset

select is(
    (select t.status from pgflow.fail_task(:'done_run', 'one', 0, 'late') as t), 'started',
    'late fail_task on a completed step returns the row unchanged'
);
select is(
    (select row(ss.status, ss.output)::text from pgflow.step_states as ss where ss.run_id = :'done_run' and ss.step_slug = 'one'),
    row('completed', '"a"'::jsonb)::text,
    'the completed step is untouched'
);
select is(
    (select row(r.remaining_steps, ss.remaining_deps)::text
     from pgflow.runs as r inner join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = 'next'
     where r.run_id = :'done_run'),
    :'before_state',
    'no counter moves'
);
select is((select count(*)::int from pgflow_tests.run_events(:'done_run')), :done_events, 'no event');
select is(
    (select count(*)::int from pgflow_tests.queue_messages('ft_late_done') as q
     inner join pgflow.step_tasks as t on t.message_id = q.msg_id where t.step_slug = 'one'),
    0,
    'the late task''s message is archived'
);
select is(
    (select t.error_message from pgflow.step_tasks as t
     where t.run_id = :'done_run' and t.step_slug = 'one' and t.task_index = 0),
    null,
    'the late error is not recorded'
);

select * from finish();
rollback;
