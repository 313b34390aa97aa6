-- Conformance (spec §7): every broadcast event of a run, driven through the public API: event
-- name, payload event_type, the exact payload key set (the "id" realtime.send injects aside),
-- literal statuses, topic 'pgflow:run:<run_id>', extension 'broadcast', private false; run events
-- never carry step_slug; each transition is broadcast once, parents before children.
begin;
select plan(50);

-- Flows ------------------------------------------------------------------------------------------
-- happy path: fetch -> items -> each (map) -> save; items returns [] so each is taskless
select pgflow.create_flow('conf_ev_ok');
select pgflow.add_step('conf_ev_ok', 'fetch');
select pgflow.add_step('conf_ev_ok', 'items', array['fetch']);
select pgflow.add_step('conf_ev_ok', 'each', array['items'], step_type => 'map');
select pgflow.add_step('conf_ev_ok', 'save', array['each']);
-- handler failure, exhausted, when_exhausted fail
select pgflow.create_flow('conf_ev_fail', max_attempts => 1);
select pgflow.add_step('conf_ev_fail', 'boom');
-- condition unmet, when_unmet fail
select pgflow.create_flow('conf_ev_cond');
select pgflow.add_step('conf_ev_cond', 'gate', required_input_pattern => '{"go": true}', when_unmet => 'fail');
-- condition unmet: skip, and skip-cascade over a child
select pgflow.create_flow('conf_ev_skip');
select pgflow.add_step('conf_ev_skip', 'a', required_input_pattern => '{"go": true}', when_unmet => 'skip');
select pgflow.add_step('conf_ev_skip', 'b', forbidden_input_pattern => '{"stop": true}', when_unmet => 'skip-cascade');
select pgflow.add_step('conf_ev_skip', 'c', array['b']);
-- handler failure, exhausted, when_exhausted skip
select pgflow.create_flow('conf_ev_fskip', max_attempts => 1);
select pgflow.add_step('conf_ev_fskip', 'flaky', when_exhausted => 'skip');
-- type violation: a single step feeding a map returns an object
select pgflow.create_flow('conf_ev_tv');
select pgflow.add_step('conf_ev_tv', 'items');
select pgflow.add_step('conf_ev_tv', 'each', array['items'], step_type => 'map');

-- Drive them -------------------------------------------------------------------------------------
select pgflow.start_flow('conf_ev_ok', '{"url": "x"}', 'e0000000-0000-0000-0000-000000000001');
select pgflow_tests.read_and_start('conf_ev_ok', 30, 10);
select pgflow.complete_task('e0000000-0000-0000-0000-000000000001', 'fetch', 0, '{"n": 0}');
select pgflow_tests.read_and_start('conf_ev_ok', 30, 10);
select pgflow.complete_task('e0000000-0000-0000-0000-000000000001', 'items', 0, '[]');
select pgflow_tests.read_and_start('conf_ev_ok', 30, 10);
select pgflow.complete_task('e0000000-0000-0000-0000-000000000001', 'save', 0, '{"ok": true}');

select pgflow.start_flow('conf_ev_fail', '{}', 'e0000000-0000-0000-0000-000000000002');
select pgflow_tests.read_and_start('conf_ev_fail', 30, 10);
select pgflow.fail_task('e0000000-0000-0000-0000-000000000002', 'boom', 0, 'kaput');

select pgflow.start_flow('conf_ev_cond', '{}', 'e0000000-0000-0000-0000-000000000003');

select pgflow.start_flow('conf_ev_skip', '{"stop": true}', 'e0000000-0000-0000-0000-000000000004');

select pgflow.start_flow('conf_ev_fskip', '{}', 'e0000000-0000-0000-0000-000000000005');
select pgflow_tests.read_and_start('conf_ev_fskip', 30, 10);
select pgflow.fail_task('e0000000-0000-0000-0000-000000000005', 'flaky', 0, 'flaked');

select pgflow.start_flow('conf_ev_tv', '{}', 'e0000000-0000-0000-0000-000000000006');
select pgflow_tests.read_and_start('conf_ev_tv', 30, 10);
select pgflow.complete_task('e0000000-0000-0000-0000-000000000006', 'items', 0, '{"k": 1}');

-- Event sequences (exactly once each, parents before children) -------------------------------
select is(
    (select array_agg(e.event order by e.seq) from pgflow_tests.conf_events('e0000000-0000-0000-0000-000000000001') as e),
    array['run:started', 'step:fetch:started', 'step:fetch:completed', 'step:items:started',
          'step:items:completed', 'step:each:completed', 'step:save:started', 'step:save:completed', 'run:completed'],
    'happy path: events in order, once per transition'
);
select is(
    (select array_agg(e.event order by e.seq) from pgflow_tests.conf_events('e0000000-0000-0000-0000-000000000002') as e),
    array['run:started', 'step:boom:started', 'step:boom:failed', 'run:failed'],
    'exhausted fail: step:failed then run:failed'
);
select is(
    (select array_agg(e.event order by e.seq) from pgflow_tests.conf_events('e0000000-0000-0000-0000-000000000003') as e),
    array['run:started', 'step:gate:failed', 'run:failed'],
    'condition fail: step:failed then run:failed'
);
select is(
    (select array_agg(e.event order by e.seq) from pgflow_tests.conf_events('e0000000-0000-0000-0000-000000000004') as e),
    array['run:started', 'step:a:skipped', 'step:b:skipped', 'step:c:skipped', 'run:completed'],
    'condition skip and skip-cascade: skipped in topological order, then the run completes'
);
select is(
    (select array_agg(e.event order by e.seq) from pgflow_tests.conf_events('e0000000-0000-0000-0000-000000000005') as e),
    array['run:started', 'step:flaky:started', 'step:flaky:skipped', 'run:completed'],
    'exhausted skip: step:skipped then run:completed'
);
select is(
    (select array_agg(e.event order by e.seq) from pgflow_tests.conf_events('e0000000-0000-0000-0000-000000000006') as e),
    array['run:started', 'step:items:started', 'run:failed', 'step:items:failed'],
    'type violation: run:failed then step:failed'
);

-- Envelope of every event: topic, extension, private, event_type matches the event name -------
select is_empty(
    $$select e.event from realtime.messages as e
      where e.topic like 'pgflow:run:e0000000-0000-0000-0000-00000000000_'
        and (e.extension <> 'broadcast' or e.private is distinct from false
             or e.payload ->> 'run_id' is distinct from substr(e.topic, 12)
             or e.payload ->> 'event_type' is distinct from
                 case when e.event like 'run:%' then e.event else 'step:' || split_part(e.event, ':', 3) end)$$,
    'every event: extension broadcast, private false, topic pgflow:run:<payload run_id>, event_type run:* / step:<what>'
);
select is_empty(
    $$select e.event from realtime.messages as e
      where e.topic like 'pgflow:run:e0000000-0000-0000-0000-00000000000_'
        and e.event like 'run:%' and e.payload ? 'step_slug'$$,
    'run events never contain step_slug'
);
select is_empty(
    $$select e.event from realtime.messages as e
      where e.topic like 'pgflow:run:e0000000-0000-0000-0000-00000000000_'
        and e.event like 'step:%'
        and (e.payload ->> 'step_slug' is distinct from split_part(e.event, ':', 2)
             or e.payload ->> 'status' is distinct from split_part(e.event, ':', 3))$$,
    'step events: step_slug is the <slug> of the event name, status is its literal status'
);
select is_empty(
    $$select e.event from realtime.messages as e
      where e.topic like 'pgflow:run:e0000000-0000-0000-0000-00000000000_'
        and e.event like 'run:%' and e.payload ->> 'status' is distinct from split_part(e.event, ':', 2)$$,
    'run events: status is the literal status'
);

-- run:started ------------------------------------------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'run:started')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'flow_slug', 'input', 'status', 'remaining_steps', 'started_at']),
    'run:started keys: event_type, run_id, flow_slug, input, status, remaining_steps, started_at'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'run:started')
    - 'id' - 'started_at',
    '{"event_type": "run:started", "run_id": "e0000000-0000-0000-0000-000000000001", "flow_slug": "conf_ev_ok",
      "input": {"url": "x"}, "status": "started", "remaining_steps": 4}'::jsonb,
    'run:started values'
);
-- step:started -----------------------------------------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:fetch:started')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'step_slug', 'status', 'started_at', 'remaining_tasks',
                                   'remaining_deps']),
    'step:started keys: event_type, run_id, step_slug, status, started_at, remaining_tasks, remaining_deps'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:save:started') - 'id' - 'started_at',
    '{"event_type": "step:started", "run_id": "e0000000-0000-0000-0000-000000000001", "step_slug": "save",
      "status": "started", "remaining_tasks": 1, "remaining_deps": 0}'::jsonb,
    'step:started values'
);
-- step:completed (complete_task) -----------------------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:fetch:completed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'step_slug', 'status', 'output', 'completed_at']),
    'step:completed keys (complete_task): event_type, run_id, step_slug, status, output, completed_at'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:fetch:completed') - 'id' - 'completed_at',
    '{"event_type": "step:completed", "run_id": "e0000000-0000-0000-0000-000000000001", "step_slug": "fetch",
      "status": "completed", "output": {"n": 0}}'::jsonb,
    'step:completed values (complete_task)'
);
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:items:completed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'step_slug', 'status', 'output', 'completed_at']),
    'step:completed keys (complete_task, array output)'
);
-- step:completed (taskless cascade) --------------------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:each:completed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'step_slug', 'status', 'started_at', 'completed_at',
                                   'remaining_tasks', 'remaining_deps', 'output']),
    'step:completed keys (taskless cascade): adds started_at, remaining_tasks, remaining_deps'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:each:completed')
    - 'id' - 'started_at' - 'completed_at',
    '{"event_type": "step:completed", "run_id": "e0000000-0000-0000-0000-000000000001", "step_slug": "each",
      "status": "completed", "remaining_tasks": 0, "remaining_deps": 0, "output": []}'::jsonb,
    'step:completed values (taskless map: output [], counters 0)'
);
-- run:completed ----------------------------------------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'run:completed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'flow_slug', 'status', 'output', 'completed_at']),
    'run:completed keys: event_type, run_id, flow_slug, status, output, completed_at'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'run:completed') - 'id' - 'completed_at',
    '{"event_type": "run:completed", "run_id": "e0000000-0000-0000-0000-000000000001", "flow_slug": "conf_ev_ok",
      "status": "completed", "output": {"save": {"ok": true}}}'::jsonb,
    'run:completed values (output = leaf outputs)'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000004', 'run:completed') -> 'output',
    'null'::jsonb,
    'run:completed of an all-skipped run: output null'
);
-- step:failed and run:failed (fail_task) ---------------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000002', 'step:boom:failed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'step_slug', 'status', 'error_message', 'failed_at']),
    'step:failed keys (fail_task): event_type, run_id, step_slug, status, error_message, failed_at'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000002', 'step:boom:failed') - 'id' - 'failed_at',
    '{"event_type": "step:failed", "run_id": "e0000000-0000-0000-0000-000000000002", "step_slug": "boom",
      "status": "failed", "error_message": "kaput"}'::jsonb,
    'step:failed values (fail_task)'
);
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000002', 'run:failed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'flow_slug', 'status', 'error_message', 'failed_at']),
    'run:failed keys (fail_task): event_type, run_id, flow_slug, status, error_message, failed_at'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000002', 'run:failed') - 'id' - 'failed_at',
    '{"event_type": "run:failed", "run_id": "e0000000-0000-0000-0000-000000000002", "flow_slug": "conf_ev_fail",
      "status": "failed", "error_message": "kaput"}'::jsonb,
    'run:failed values (fail_task)'
);
-- step:failed and run:failed (condition fail) ----------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000003', 'step:gate:failed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'step_slug', 'status', 'error_message', 'failed_at']),
    'step:failed keys (condition)'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000003', 'step:gate:failed') ->> 'error_message',
    'Condition not met',
    'step:failed (condition) error_message: Condition not met'
);
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000003', 'run:failed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'flow_slug', 'status', 'error_message', 'failed_at']),
    'run:failed keys (condition)'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000003', 'run:failed') ->> 'error_message',
    'Condition not met',
    'run:failed (condition) error_message: Condition not met'
);
-- step:failed and run:failed (type violation) ----------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000006', 'run:failed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'flow_slug', 'status', 'failed_at']),
    'run:failed keys (type violation): no error_message'
);
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000006', 'step:items:failed')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'step_slug', 'status', 'error_message', 'failed_at']),
    'step:failed keys (type violation)'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000006', 'step:items:failed') ->> 'error_message',
    '[TYPE_VIOLATION] Map step each expects array input but dependency items produced object',
    'step:failed (type violation) error_message'
);
-- step:skipped (conditions, cascade) -------------------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000004', 'step:a:skipped')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'flow_slug', 'step_slug', 'status', 'skip_reason',
                                   'skipped_at']),
    'step:skipped keys (condition skip): event_type, run_id, flow_slug, step_slug, status, skip_reason, skipped_at'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000004', 'step:a:skipped') - 'id' - 'skipped_at',
    '{"event_type": "step:skipped", "run_id": "e0000000-0000-0000-0000-000000000004", "flow_slug": "conf_ev_skip",
      "step_slug": "a", "status": "skipped", "skip_reason": "condition_unmet"}'::jsonb,
    'step:skipped values (condition skip)'
);
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000004', 'step:b:skipped')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'flow_slug', 'step_slug', 'status', 'skip_reason',
                                   'skipped_at']),
    'step:skipped keys (skip-cascade root)'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000004', 'step:b:skipped') ->> 'skip_reason',
    'condition_unmet',
    'step:skipped (skip-cascade root) skip_reason condition_unmet'
);
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000004', 'step:c:skipped')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'flow_slug', 'step_slug', 'status', 'skip_reason',
                                   'skipped_at']),
    'step:skipped keys (cascade descendant)'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000004', 'step:c:skipped') ->> 'skip_reason',
    'dependency_skipped',
    'step:skipped (cascade descendant) skip_reason dependency_skipped'
);
-- step:skipped (fail_task variant) ---------------------------------------------------------------
select is(
    pgflow_tests.conf_keys(pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000005', 'step:flaky:skipped')),
    pgflow_tests.conf_sorted(array['event_type', 'run_id', 'step_slug', 'status', 'skip_reason', 'error_message',
                                   'skipped_at']),
    'step:skipped keys (fail_task): no flow_slug, adds error_message'
);
select is(
    pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000005', 'step:flaky:skipped') - 'id' - 'skipped_at',
    '{"event_type": "step:skipped", "run_id": "e0000000-0000-0000-0000-000000000005", "step_slug": "flaky",
      "status": "skipped", "skip_reason": "handler_failed", "error_message": "flaked"}'::jsonb,
    'step:skipped values (fail_task)'
);

-- Timestamps in payloads equal the stored row values ---------------------------------------------
select is(
    (pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'run:started') ->> 'started_at')::timestamptz,
    (select r.started_at from pgflow.runs as r where r.run_id = 'e0000000-0000-0000-0000-000000000001'),
    'run:started started_at = runs.started_at'
);
select is(
    (pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'run:completed') ->> 'completed_at')::timestamptz,
    (select r.completed_at from pgflow.runs as r where r.run_id = 'e0000000-0000-0000-0000-000000000001'),
    'run:completed completed_at = runs.completed_at'
);
select is(
    (pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000002', 'run:failed') ->> 'failed_at')::timestamptz,
    (select r.failed_at from pgflow.runs as r where r.run_id = 'e0000000-0000-0000-0000-000000000002'),
    'run:failed failed_at = runs.failed_at'
);
select is(
    (pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:fetch:started') ->> 'started_at')::timestamptz,
    (select ss.started_at from pgflow.step_states as ss
     where ss.run_id = 'e0000000-0000-0000-0000-000000000001' and ss.step_slug = 'fetch'),
    'step:started started_at = step_states.started_at'
);
select is(
    (pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000001', 'step:fetch:completed') ->> 'completed_at')::timestamptz,
    (select ss.completed_at from pgflow.step_states as ss
     where ss.run_id = 'e0000000-0000-0000-0000-000000000001' and ss.step_slug = 'fetch'),
    'step:completed completed_at = step_states.completed_at'
);
select is(
    (pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000002', 'step:boom:failed') ->> 'failed_at')::timestamptz,
    (select ss.failed_at from pgflow.step_states as ss
     where ss.run_id = 'e0000000-0000-0000-0000-000000000002' and ss.step_slug = 'boom'),
    'step:failed failed_at = step_states.failed_at'
);
select is(
    (pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000005', 'step:flaky:skipped') ->> 'skipped_at')::timestamptz,
    (select ss.skipped_at from pgflow.step_states as ss
     where ss.run_id = 'e0000000-0000-0000-0000-000000000005' and ss.step_slug = 'flaky'),
    'step:skipped skipped_at = step_states.skipped_at'
);
select is(
    (pgflow_tests.conf_event('e0000000-0000-0000-0000-000000000004', 'step:c:skipped') ->> 'skipped_at')::timestamptz,
    (select ss.skipped_at from pgflow.step_states as ss
     where ss.run_id = 'e0000000-0000-0000-0000-000000000004' and ss.step_slug = 'c'),
    'step:skipped (cascade) skipped_at = step_states.skipped_at'
);

-- Task-level retries are not broadcast ----------------------------------------------------------
select pgflow.create_flow('conf_ev_retry', max_attempts => 2);
select pgflow.add_step('conf_ev_retry', 'r');
select pgflow.start_flow('conf_ev_retry', '{}', 'e0000000-0000-0000-0000-000000000007');
select pgflow_tests.read_and_start('conf_ev_retry', 30, 10);
select pgflow.fail_task('e0000000-0000-0000-0000-000000000007', 'r', 0, 'once');
select is(
    (select array_agg(e.event order by e.seq) from pgflow_tests.conf_events('e0000000-0000-0000-0000-000000000007') as e),
    array['run:started', 'step:r:started'],
    'a retried task broadcasts nothing'
);

select * from finish();
rollback;
