begin;
select plan(16);

select pgflow.create_flow('ft_exh', max_attempts => 1);
select pgflow.add_step('ft_exh', 'boom');
select pgflow.add_step('ft_exh', 'other');
select pgflow.add_step('ft_exh', 'after', array['boom']);
select r.run_id as run_id from pgflow.start_flow('ft_exh', '{}') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('ft_exh', 1, 10)), 2, 'both root tasks started');

select is(
    (select row(t.status, t.attempts_count, t.error_message, t.failed_at is not null)::text
     from pgflow.fail_task(:'run_id', 'boom', 0, 'kaboom') as t),
    row('failed', 1, 'kaboom', true)::text,
    'the exhausted task is returned failed, with failed_at and error_message'
);
select is(
    (select row(ss.status, ss.error_message, ss.failed_at is not null, ss.skip_reason)::text
     from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'boom'),
    row('failed', 'kaboom', true, null::text)::text,
    'the step is failed with the error message'
);
select is(
    (select row(r.status, r.failed_at is not null, r.remaining_steps, r.completed_at)::text
     from pgflow.runs as r where r.run_id = :'run_id'),
    row('failed', true, 3, null::timestamptz)::text,
    'the run is failed; remaining_steps is not decremented'
);
select is(
    (select array_agg(ss.step_slug || '=' || ss.status order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'run_id'),
    array['after=created', 'boom=failed', 'other=started'],
    'other steps keep their status'
);
select is(
    (select t.status from pgflow.step_tasks as t where t.run_id = :'run_id' and t.step_slug = 'other'),
    'started',
    'tasks of other steps are not force-transitioned'
);
select is((select count(*)::int from pgflow_tests.queue_messages('ft_exh')), 0, 'no message of the run is left in the queue');
select is(
    (select array_agg(x order by x) from pgflow_tests.archived_msg_ids('ft_exh') as x),
    (select array_agg(t.message_id order by t.message_id) from pgflow.step_tasks as t where t.run_id = :'run_id'),
    'the failed task and the other step''s message are archived'
);
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'run_id') with ordinality as e (event, payload, ord)
     where e.event not like '%:started'),
    array['step:boom:failed', 'run:failed'],
    'step:<slug>:failed, then run:failed'
);
select is(
    (select pgflow_tests.payload_keys(e.payload) from pgflow_tests.run_events(:'run_id') as e
     where e.event = 'step:boom:failed'),
    array['error_message', 'event_type', 'failed_at', 'run_id', 'status', 'step_slug'],
    'step:failed payload keys'
);
select is(
    (select row(e.payload ->> 'event_type', e.payload ->> 'status', e.payload ->> 'error_message',
                e.payload ->> 'step_slug', (e.payload ->> 'run_id')::uuid)::text
     from pgflow_tests.run_events(:'run_id') as e where e.event = 'step:boom:failed'),
    row('step:failed', 'failed', 'kaboom', 'boom', :'run_id'::uuid)::text,
    'step:failed payload values'
);
select is(
    (select pgflow_tests.payload_keys(e.payload) from pgflow_tests.run_events(:'run_id') as e
     where e.event = 'run:failed'),
    array['error_message', 'event_type', 'failed_at', 'flow_slug', 'run_id', 'status'],
    'run:failed payload keys (no step_slug)'
);
select is(
    (select row(e.payload ->> 'event_type', e.payload ->> 'status', e.payload ->> 'error_message',
                e.payload ->> 'flow_slug')::text
     from pgflow_tests.run_events(:'run_id') as e where e.event = 'run:failed'),
    row('run:failed', 'failed', 'kaboom', 'ft_exh')::text,
    'run:failed payload values'
);
select is(
    (select (e.payload ->> 'failed_at')::timestamptz from pgflow_tests.run_events(:'run_id') as e
     where e.event = 'run:failed'),
    (select r.failed_at from pgflow.runs as r where r.run_id = :'run_id'),
    'run:failed carries the run''s failed_at'
);

-- a zero max_attempts step is exhausted by its first failure too
select pgflow.create_flow('ft_exh_zero', max_attempts => 0);
select pgflow.add_step('ft_exh_zero', 'z');
select r.run_id as zero_run from pgflow.start_flow('ft_exh_zero', '{}') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('ft_exh_zero', 1, 10)), 1, 'task started');
select is(
    (select t.status from pgflow.fail_task(:'zero_run', 'z', 0, 'x') as t), 'failed', 'max_attempts 0 never retries'
);

select * from finish();
rollback;
