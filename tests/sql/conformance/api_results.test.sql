-- Conformance (spec §6.3, §8.2, §8.3, §8.5-§8.7): what the API returns to its callers: create_flow
-- and add_step rows (defaults, idempotence), start_flow's one run row, the run document of
-- get_run_with_states / start_flow_with_states, start_tasks records (input and flow_input for
-- each kind of step), late callbacks, compilation statuses, worker bookkeeping.
begin;
select plan(47);

-- create_flow ------------------------------------------------------------------------------------
select is(
    (select row(f.flow_slug, f.opt_max_attempts, f.opt_base_delay, f.opt_timeout)::text
     from pgflow.create_flow('conf_api') as f),
    '(conf_api,3,5,60)',
    'create_flow with NULL options stores 3 / 5 / 60 and returns the row'
);
select is(
    (select row(f.opt_max_attempts, f.opt_base_delay, f.opt_timeout)::text
     from pgflow.create_flow('conf_api', max_attempts => 9, base_delay => 9, timeout => 9) as f),
    '(3,5,60)',
    'create_flow on an existing flow returns the existing row, options not updated'
);
select is(
    (select row(f.opt_max_attempts, f.opt_base_delay, f.opt_timeout)::text
     from pgflow.create_flow('conf_api_opts', max_attempts => 2, base_delay => 0, timeout => 7) as f),
    '(2,0,7)',
    'create_flow stores the options given'
);

-- add_step ---------------------------------------------------------------------------------------
select is(
    (select row(s.step_slug, s.step_type, s.step_index, s.deps_count, s.opt_max_attempts, s.opt_base_delay,
                s.opt_timeout, s.opt_start_delay, s.when_unmet, s.when_exhausted)::text
     from pgflow.add_step('conf_api', 'root') as s),
    '(root,single,0,0,,,,,skip,fail)',
    'add_step: first step has step_index 0, deps_count 0, NULL options (inherit), modes skip/fail'
);
select is(
    (select row(s.step_index, s.deps_count, s.opt_timeout)::text
     from pgflow.add_step('conf_api', 'child', array['root'], timeout => 11) as s),
    '(1,1,11)',
    'add_step: next step_index, deps_count = number of deps, options as passed'
);
select is(
    (select row(s.step_type, s.step_index, s.deps_count)::text
     from pgflow.add_step('conf_api', 'fan', array['child'], step_type => 'map') as s),
    '(map,2,1)',
    'add_step: a dependent map step'
);
select is(
    (select row(s.step_type, s.step_index, s.deps_count, s.opt_timeout)::text
     from pgflow.add_step('conf_api', 'child', array['root'], timeout => 99, step_type => 'map') as s),
    '(single,1,1,11)',
    'add_step on an existing step returns the existing row unchanged'
);
select is(
    (select array_agg(d.dep_slug || '>' || d.step_slug order by d.step_slug) from pgflow.deps as d
     where d.flow_slug = 'conf_api'),
    array['root>child', 'child>fan'],
    'one deps row per edge'
);
select is(
    (select s.deps_count from pgflow.add_step('conf_api', 'nulldeps', null) as s),
    0,
    'add_step with a NULL deps array: deps_count 0'
);

-- start_flow / get_run_with_states / start_flow_with_states -------------------------------------
select is(
    (select count(*)::int from pgflow.start_flow('conf_api', '{"x": 1}', 'a0000000-0000-0000-0000-000000000001')),
    1,
    'start_flow returns exactly one row'
);
select is(
    (select row(r.flow_slug, r.status, r.input, r.remaining_steps)::text from pgflow.runs as r
     where r.run_id = 'a0000000-0000-0000-0000-000000000001'),
    '(conf_api,started,"{""x"": 1}",4)',
    'the run uses the given run_id: started, input stored, remaining_steps = number of steps'
);
select is(
    (select array_agg(ss.step_slug || ':' || ss.status || ':' || ss.remaining_deps || ':'
                      || coalesce(ss.initial_tasks::text, 'NULL') || ':' || coalesce(ss.remaining_tasks::text, 'NULL')
                      order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = 'a0000000-0000-0000-0000-000000000001'),
    array['child:created:1:1:NULL', 'fan:created:1:NULL:NULL', 'nulldeps:started:0:1:1', 'root:started:0:1:1'],
    'step_states: remaining_deps = deps_count, initial_tasks 1 / NULL for a dependent map, roots started'
);
select is(
    pgflow_tests.conf_keys(pgflow.get_run_with_states('a0000000-0000-0000-0000-000000000001')),
    array['run', 'steps'],
    'get_run_with_states: {"run", "steps"}'
);
select is(
    pgflow_tests.conf_keys(pgflow.get_run_with_states('a0000000-0000-0000-0000-000000000001') -> 'run'),
    pgflow_tests.conf_sorted(array['run_id', 'flow_slug', 'status', 'input', 'output', 'remaining_steps',
                                   'started_at', 'completed_at', 'failed_at']),
    'get_run_with_states: "run" is the runs row as json'
);
select is(
    jsonb_array_length(pgflow.get_run_with_states('a0000000-0000-0000-0000-000000000001') -> 'steps'),
    4,
    'get_run_with_states: one entry per step_state'
);
select is(
    (select pgflow_tests.conf_keys(e.value)
     from jsonb_array_elements(pgflow.get_run_with_states('a0000000-0000-0000-0000-000000000001') -> 'steps') as e
     limit 1),
    pgflow_tests.conf_sorted(array['flow_slug', 'run_id', 'step_slug', 'status', 'remaining_tasks', 'initial_tasks',
                                   'remaining_deps', 'output', 'error_message', 'skip_reason', 'created_at',
                                   'started_at', 'completed_at', 'failed_at', 'skipped_at']),
    'get_run_with_states: each "steps" entry is a step_states row as json'
);
select is(
    pgflow.get_run_with_states('a0000000-0000-0000-0000-0000000000ff'),
    null::jsonb,
    'get_run_with_states of an unknown run is NULL'
);
select pgflow.create_flow('conf_api_empty');
select is(
    pgflow.start_flow_with_states('conf_api_empty', '{}', 'a0000000-0000-0000-0000-000000000002')
    - 'x' #- '{run,started_at}' #- '{run,completed_at}',
    '{"run": {"run_id": "a0000000-0000-0000-0000-000000000002", "flow_slug": "conf_api_empty", "status": "completed",
              "input": {}, "output": null, "remaining_steps": 0, "failed_at": null}, "steps": []}'::jsonb,
    'start_flow_with_states: the run document; a zero-step flow completes at once with "steps": []'
);

-- start_tasks records (spec §6.3) ----------------------------------------------------------------
create temp table conf_api_tasks on commit drop as
select * from pgflow_tests.read_and_start('conf_api', 30, 10);
select is(
    (select count(*)::int from conf_api_tasks),
    2,
    'start_tasks returns one record per started task'
);
select is(
    (select row(t.flow_slug, t.run_id, t.input, t.task_index, t.flow_input)::text from conf_api_tasks as t
     where t.step_slug = 'root'),
    '(conf_api,a0000000-0000-0000-0000-000000000001,{},0,"{""x"": 1}")',
    'root single step: input {}, flow_input = run input'
);
select is(
    (select t.msg_id from conf_api_tasks as t where t.step_slug = 'root'),
    (select st.message_id from pgflow.step_tasks as st
     where st.run_id = 'a0000000-0000-0000-0000-000000000001' and st.step_slug = 'root'),
    'msg_id is the task''s message'
);
select is(
    (select row(st.status, st.attempts_count, st.last_worker_id, st.started_at is not null)::text
     from pgflow.step_tasks as st
     where st.run_id = 'a0000000-0000-0000-0000-000000000001' and st.step_slug = 'root'),
    '(started,1,11111111-1111-1111-1111-111111111111,t)',
    'start_tasks: task started, attempts_count 1, last_worker_id, started_at'
);
select is_empty(
    $$select * from pgflow.start_tasks('conf_api',
        (select array_agg(st.message_id) from pgflow.step_tasks as st
         where st.run_id = 'a0000000-0000-0000-0000-000000000001'),
        '11111111-1111-1111-1111-111111111111')$$,
    'start_tasks ignores tasks that are not queued'
);
select pgflow.complete_task('a0000000-0000-0000-0000-000000000001', 'root', 0, '["p", null, "q"]');
create temp table conf_api_tasks2 on commit drop as
select * from pgflow_tests.read_and_start('conf_api', 30, 10);
select is(
    (select row(t.input, t.flow_input)::text from conf_api_tasks2 as t where t.step_slug = 'child'),
    '("{""root"": [""p"", null, ""q""]}",)',
    'dependent single step: input {dep: output}, flow_input NULL'
);
select pgflow.complete_task('a0000000-0000-0000-0000-000000000001', 'child', 0, '["p", null, "q"]');
create temp table conf_api_tasks3 on commit drop as
select * from pgflow_tests.read_and_start('conf_api', 30, 10);
select is(
    (select array_agg(coalesce(t.input::text, 'SQL NULL') || '/' || coalesce(t.flow_input::text, 'NULL') order by t.task_index)
     from conf_api_tasks3 as t where t.step_slug = 'fan'),
    array['"p"/NULL', 'null/NULL', '"q"/NULL'],
    'dependent map: input = the bare element at task_index (JSON null kept), flow_input NULL'
);
select pgflow.create_flow('conf_api_rootmap');
select pgflow.add_step('conf_api_rootmap', 'each', step_type => 'map');
select pgflow.start_flow('conf_api_rootmap', '[{"a": 1}, 2]', 'a0000000-0000-0000-0000-000000000003');
select is(
    (select array_agg(t.input::text || '/' || coalesce(t.flow_input::text, 'NULL') order by t.task_index)
     from pgflow_tests.read_and_start('conf_api_rootmap', 30, 10) as t),
    array['{"a": 1}/NULL', '2/NULL'],
    'root map: input = run input element, flow_input NULL'
);

-- complete_task results --------------------------------------------------------------------------
select is(
    (select row(t.step_slug, t.task_index, t.status, t.output)::text
     from pgflow.complete_task('a0000000-0000-0000-0000-000000000001', 'fan', 1, '"B"') as t),
    '(fan,1,completed,"""B""")',
    'complete_task returns the completed task row'
);
select is_empty(
    $$select * from pgflow.complete_task('a0000000-0000-0000-0000-000000000001', 'ghost', 0, '1')$$,
    'complete_task of an unknown task returns no row'
);
select pgflow.complete_task('a0000000-0000-0000-0000-000000000001', 'fan', 2, '"C"');
select pgflow.complete_task('a0000000-0000-0000-0000-000000000001', 'fan', 0, '"A"');
select is(
    (select ss.output from pgflow.step_states as ss
     where ss.run_id = 'a0000000-0000-0000-0000-000000000001' and ss.step_slug = 'fan'),
    '["A", "B", "C"]'::jsonb,
    'a map step''s output is its task outputs ordered by task_index'
);
select pgflow_tests.read_and_start('conf_api', 30, 10);
select pgflow.complete_task('a0000000-0000-0000-0000-000000000001', 'nulldeps', 0, null);
select is(
    (select row(r.status, r.output)::text from pgflow.runs as r where r.run_id = 'a0000000-0000-0000-0000-000000000001'),
    '(completed,"{""fan"": [""A"", ""B"", ""C""], ""nulldeps"": null}")',
    'run output = {leaf: output} of completed leaves (a NULL output kept as null)'
);
select is(
    (select row(t.status, t.output)::text
     from pgflow.complete_task('a0000000-0000-0000-0000-000000000001', 'fan', 0, '"late"') as t),
    '(completed,"""A""")',
    'a late complete_task returns the task row unchanged'
);

-- ensure_flow_compiled / shapes ------------------------------------------------------------------
select is(
    pgflow._get_flow_shape('conf_api_missing'),
    '{"steps": []}'::jsonb,
    '_get_flow_shape of an unknown flow: {"steps": []}'
);
select is(
    pgflow._get_flow_shape('conf_api_rootmap'),
    '{"steps": [{"slug": "each", "stepType": "map", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
                 "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}}]}'::jsonb,
    '_get_flow_shape: the spec''s keys, no options'
);
select is(
    pgflow.ensure_flow_compiled('conf_api_rootmap', pgflow._get_flow_shape('conf_api_rootmap')),
    '{"status": "verified", "differences": []}'::jsonb,
    'ensure_flow_compiled of a matching shape: verified'
);
select is(
    pgflow.ensure_flow_compiled('conf_api_new', '{"steps": [{"slug": "s", "stepType": "single", "dependencies": []}]}'),
    '{"status": "compiled", "differences": []}'::jsonb,
    'ensure_flow_compiled of an absent flow: compiled'
);
select is(
    pgflow.ensure_flow_compiled('conf_api_new', '{"steps": []}'),
    '{"status": "mismatch", "differences": ["Step count differs: 0 vs 1", "Step at index 0: missing in first shape (second has ''s'')"]}'::jsonb,
    'ensure_flow_compiled of a different shape in production: mismatch with the differences'
);
select is(
    pgflow.ensure_flow_compiled('conf_api_new', '{"steps": []}', allow_data_loss => true),
    '{"status": "recompiled", "differences": ["Step count differs: 0 vs 1", "Step at index 0: missing in first shape (second has ''s'')"]}'::jsonb,
    'ensure_flow_compiled with allow_data_loss: recompiled'
);
select is(
    pgflow._compare_flow_shapes(
        '{"steps": [{"slug": "a", "stepType": "map", "dependencies": ["z", "b"], "whenUnmet": "skip"}]}',
        '{"steps": [{"slug": "a", "stepType": "map", "dependencies": ["b", "z"], "whenUnmet": "fail",
                     "requiredInputPattern": {"defined": false}}]}'
    ),
    array['Step at index 0: whenUnmet differs ''skip'' vs ''fail''',
          'Step at index 0: requiredInputPattern differs '''' vs ''{"defined": false}''']::text[],
    '_compare_flow_shapes: deps compared sorted, whenUnmet message, missing pattern vs {"defined": false} differs'
);

-- Worker bookkeeping (spec §8.7) -----------------------------------------------------------------
select pgflow.track_worker_function('conf_api_fn');
select is(
    (select row(w.enabled, w.debounce, w.last_invoked_at, w.updated_at > w.created_at)::text
     from pgflow.worker_functions as w where w.function_name = 'conf_api_fn'),
    '(t,00:00:06,,t)',
    'track_worker_function: enabled, 6 s debounce, never invoked, updated_at (clock) > created_at (tx time)'
);
insert into pgflow.workers (worker_id, queue_name, function_name)
values ('a0000000-0000-0000-0000-0000000000f1', 'conf_api', 'conf_api_fn');
select pgflow.mark_worker_stopped('a0000000-0000-0000-0000-0000000000f1');
select ok(
    (select w.stopped_at > w.started_at from pgflow.workers as w where w.worker_id = 'a0000000-0000-0000-0000-0000000000f1'),
    'mark_worker_stopped stamps stopped_at with the clock time'
);
select is(pgflow.is_local(), false, 'is_local() is false without the Supabase CLI jwt secret');
select set_config('app.settings.jwt_secret', 'super-secret-jwt-token-with-at-least-32-characters-long', true);
select is(pgflow.is_local(), true, 'is_local() is true with the Supabase CLI jwt secret');
select set_config('app.settings.jwt_secret', 'something-else', true);
select is(pgflow.is_local(), false, 'is_local() is false with another secret');

-- start_tasks ignores ids it cannot start (spec §8.5); where pgflow leaves their vt alone, a started
-- task's message is hidden until the task's deadline here (issue 21: not handed out again and again)
select pgflow.create_flow('conf_api_ign');
select pgflow.add_step('conf_api_ign', 'a');
select pgflow.start_flow('conf_api_ign', '{}', 'a0000000-0000-0000-0000-000000000004');
select pgflow_tests.read_and_start('conf_api_ign', 30, 1);
select pgflow_tests.make_all_visible('conf_api_ign');
select is_empty(
    $$select * from pgflow.start_tasks('conf_api_ign',
        array[-1]::bigint[] || (select array_agg(st.message_id) from pgflow.step_tasks as st
                                where st.run_id = 'a0000000-0000-0000-0000-000000000004'),
        '11111111-1111-1111-1111-111111111111')$$,
    'start_tasks with unknown and already-started ids returns nothing'
);
select ok(
    (select bool_and(q.vt between now() + interval '61 seconds' and now() + interval '63 seconds')
     from pgflow_tests.conf_queue('conf_api_ign') as q),
    '... and hides the started task''s message until its deadline (started_at + timeout 60 + 2 s)'
);

-- _create_flow_from_shape maps shape options and modes (spec §8.6) -------------------------------
select pgflow._create_flow_from_shape('conf_api_shape', '{"steps": [{"slug": "s", "stepType": "map",
    "dependencies": [], "whenUnmet": "fail", "whenExhausted": "skip-cascade",
    "requiredInputPattern": {"defined": true, "value": {"a": 1}}, "forbiddenInputPattern": {"defined": false},
    "options": {"maxAttempts": 4, "baseDelay": 2, "timeout": 9, "startDelay": 5}}],
    "options": {"maxAttempts": 7, "timeout": 33}}');
select is(
    (select row(f.opt_max_attempts, f.opt_base_delay, f.opt_timeout)::text from pgflow.flows as f
     where f.flow_slug = 'conf_api_shape'),
    '(7,5,33)',
    '_create_flow_from_shape: flow options from the shape, absent ones default (base_delay 5)'
);
select is(
    (select row(s.step_type, s.opt_max_attempts, s.opt_base_delay, s.opt_timeout, s.opt_start_delay,
                s.required_input_pattern, s.forbidden_input_pattern, s.when_unmet, s.when_exhausted)::text
     from pgflow.steps as s where s.flow_slug = 'conf_api_shape'),
    '(map,4,2,9,5,"{""a"": 1}",,fail,skip-cascade)',
    '_create_flow_from_shape: step type, options, patterns (value when defined) and modes'
);

select * from finish();
rollback;
