begin;
select plan(14);

-- at start: the run is failed before anything starts
select pgflow.create_flow('crc_fail');
select pgflow.add_step('crc_fail', 'first');
select pgflow.add_step('crc_fail', 'gate', required_input_pattern => '{"allowed": true}', when_unmet => 'fail');
select pgflow.add_step('crc_fail', 'gate2', required_input_pattern => '{"other": true}', when_unmet => 'fail');
select pgflow.add_step('crc_fail', 'skipme', required_input_pattern => '{"other": true}');
select pgflow.add_step('crc_fail', 'later', array['gate']);

select r.run_id as run_id, r.status as returned_status
from pgflow.start_flow('crc_fail', '{"allowed": false}') as r \gset
select is(:'returned_status'::text, 'failed', 'start_flow returns the failed run');
select is(
    (select row(r.status, r.failed_at is not null, r.remaining_steps)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('failed', true, 5)::text,
    'the run is failed, remaining_steps untouched'
);
select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || coalesce(ss.error_message, '-') order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'run_id'),
    array['first=created/-', 'gate=failed/Condition not met', 'gate2=created/-', 'later=created/-', 'skipme=created/-'],
    'only the lowest-index fail step fails (Condition not met); nothing else moves'
);
select is(
    (select ss.failed_at is not null from pgflow.step_states as ss where ss.run_id = :'run_id' and ss.step_slug = 'gate'),
    true,
    'the failed step has failed_at'
);
select is(pgflow_tests.event_names(:'run_id'), array['run:started', 'step:gate:failed', 'run:failed'], 'events');
select is(
    (select row(pgflow_tests.payload_keys(e.payload), e.payload ->> 'error_message', e.payload ->> 'event_type')::text
     from pgflow_tests.run_events(:'run_id') as e where e.event = 'step:gate:failed'),
    row(array['error_message', 'event_type', 'failed_at', 'run_id', 'status', 'step_slug'],
        'Condition not met', 'step:failed')::text,
    'step:failed carries Condition not met'
);
select is(
    (select row(pgflow_tests.payload_keys(e.payload), e.payload ->> 'error_message', e.payload ->> 'status')::text
     from pgflow_tests.run_events(:'run_id') as e where e.event = 'run:failed'),
    row(array['error_message', 'event_type', 'failed_at', 'flow_slug', 'run_id', 'status'],
        'Condition not met', 'failed')::text,
    'run:failed carries Condition not met'
);
select is((select count(*)::int from pgflow_tests.queue_messages('crc_fail')), 0, 'no message was sent');
select is(pgflow.cascade_resolve_conditions(:'run_id'), false, 'on a failed run it returns false');

select r.run_id as ok_run from pgflow.start_flow('crc_fail', '{"allowed": true, "other": true}') as r \gset
select is(
    (select count(*)::int from pgflow.step_states as ss where ss.run_id = :'ok_run' and ss.status = 'started'),
    4,
    'met conditions: the run goes on'
);

-- mid-run: a dependent fail step fails the run and archives the other steps' messages
select pgflow.create_flow('crc_fail_mid');
select pgflow.add_step('crc_fail_mid', 'src');
select pgflow.add_step('crc_fail_mid', 'side');
select pgflow.add_step('crc_fail_mid', 'check', array['src'], required_input_pattern => '{"src": {"ok": true}}',
    when_unmet => 'fail');
select r.run_id as mid from pgflow.start_flow('crc_fail_mid', '{}') as r \gset
select is((select count(*)::int from pgflow_tests.read_and_start('crc_fail_mid', 30, 10)), 2, 'both root tasks started');
select pgflow.complete_task(:'mid', 'src', 0, '{"ok": false}');
select is(
    (select row(r.status, ss.status, ss.error_message)::text from pgflow.runs as r
     inner join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = 'check' where r.run_id = :'mid'),
    row('failed', 'failed', 'Condition not met')::text,
    'the condition fails the step and the run'
);
select is((select count(*)::int from pgflow_tests.queue_messages('crc_fail_mid')), 0, 'every message of the run is archived');
select is(
    (select array_agg(e.event order by e.ord)
     from pgflow_tests.run_events(:'mid') with ordinality as e (event, payload, ord) where e.event not like '%:started'),
    array['step:src:completed', 'step:check:failed', 'run:failed'],
    'the parent''s completion, then the condition failure'
);

select * from finish();
rollback;
