begin;
select plan(8);

select pgflow._create_flow_from_shape(
    'cffs_flow',
    '{"steps": [
        {"slug": "root", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
         "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false},
         "options": {"maxAttempts": 5, "baseDelay": 2, "timeout": 10, "startDelay": 3}},
        {"slug": "side", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
         "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}},
        {"slug": "each", "stepType": "map", "dependencies": ["root"], "whenUnmet": "fail",
         "whenExhausted": "skip-cascade",
         "requiredInputPattern": {"defined": true, "value": {"root": {"ok": true}}},
         "forbiddenInputPattern": {"defined": true, "value": {"root": {"bad": true}}}},
        {"slug": "join", "stepType": "single", "dependencies": ["side", "each"], "whenUnmet": "skip",
         "whenExhausted": "fail",
         "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}}
    ],
    "options": {"maxAttempts": 4, "timeout": 90}}'
);

select is(
    (select row(f.opt_max_attempts, f.opt_base_delay, f.opt_timeout) from pgflow.flows as f where f.flow_slug = 'cffs_flow'),
    row(4, 5, 90),
    'flow options from shape.options; an absent one takes create_flow''s default'
);
select ok(exists (select 1 from pgmq.list_queues() as q where q.queue_name = 'cffs_flow'), 'the queue exists');
select is(
    (select array_agg(s.step_slug order by s.step_index) from pgflow.steps as s where s.flow_slug = 'cffs_flow'),
    array['root', 'side', 'each', 'join'],
    'steps are added in array order'
);
select is(
    (select row(s.opt_max_attempts, s.opt_base_delay, s.opt_timeout, s.opt_start_delay)
     from pgflow.steps as s where s.flow_slug = 'cffs_flow' and s.step_slug = 'root'),
    row(5, 2, 10, 3),
    'step options come from step.options'
);
select is(
    (select row(s.opt_max_attempts, s.opt_base_delay, s.opt_timeout, s.opt_start_delay)
     from pgflow.steps as s where s.flow_slug = 'cffs_flow' and s.step_slug = 'side'),
    row(null::int, null::int, null::int, null::int),
    'absent step options stay NULL (inherit the flow)'
);
select is(
    (select row(s.step_type, s.deps_count, s.when_unmet, s.when_exhausted, s.required_input_pattern, s.forbidden_input_pattern)
     from pgflow.steps as s where s.flow_slug = 'cffs_flow' and s.step_slug = 'each'),
    row('map'::text, 1, 'fail'::text, 'skip-cascade'::text, '{"root": {"ok": true}}'::jsonb, '{"root": {"bad": true}}'::jsonb),
    'type, modes and defined patterns are stored'
);
select is(
    (select array_agg(d.dep_slug order by d.dep_slug) from pgflow.deps as d
     where d.flow_slug = 'cffs_flow' and d.step_slug = 'join'),
    array['each', 'side'],
    'dependencies become deps rows'
);

-- a minimal shape: everything but the slug absent
select pgflow._create_flow_from_shape('cffs_min', '{"steps": [{"slug": "only"}]}');
select is(
    (select row(s.step_type, s.when_unmet, s.when_exhausted, s.required_input_pattern, s.deps_count)
     from pgflow.steps as s where s.flow_slug = 'cffs_min'),
    row('single'::text, 'skip'::text, 'fail'::text, null::jsonb, 0),
    'absent stepType/whenUnmet/whenExhausted/patterns default to single/skip/fail/NULL'
);

select * from finish();
rollback;
