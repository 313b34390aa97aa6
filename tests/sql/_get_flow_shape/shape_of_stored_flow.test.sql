begin;
select plan(5);

select pgflow.create_flow('gfs_flow', max_attempts => 7, timeout => 30);
select pgflow.add_step('gfs_flow', 'root');
select pgflow.add_step('gfs_flow', 'other');
select pgflow.add_step('gfs_flow', 'items', array['root'], max_attempts => 2);
select pgflow.add_step(
    'gfs_flow', 'each', array['items'], step_type => 'map',
    required_input_pattern => '{"items": [1]}', when_unmet => 'skip-cascade', when_exhausted => 'skip'
);
select pgflow.add_step(
    'gfs_flow', 'join', array['root', 'each', 'other'], forbidden_input_pattern => '{"root": {"bad": true}}'
);

select is(
    pgflow._get_flow_shape('gfs_flow'),
    '{"steps": [
        {"slug": "root", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
         "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}},
        {"slug": "other", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
         "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}},
        {"slug": "items", "stepType": "single", "dependencies": ["root"], "whenUnmet": "skip",
         "whenExhausted": "fail",
         "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}},
        {"slug": "each", "stepType": "map", "dependencies": ["items"], "whenUnmet": "skip-cascade",
         "whenExhausted": "skip",
         "requiredInputPattern": {"defined": true, "value": {"items": [1]}},
         "forbiddenInputPattern": {"defined": false}},
        {"slug": "join", "stepType": "single", "dependencies": ["each", "other", "root"], "whenUnmet": "skip",
         "whenExhausted": "fail",
         "requiredInputPattern": {"defined": false},
         "forbiddenInputPattern": {"defined": true, "value": {"root": {"bad": true}}}}
    ]}'::jsonb,
    'steps in step_index order, dependencies sorted, patterns wrapped in {defined, value}, no options'
);
select ok(not (pgflow._get_flow_shape('gfs_flow') ? 'options'), 'flow options are not part of the stored shape');
select is(pgflow._get_flow_shape('gfs_missing'), '{"steps": []}'::jsonb, 'an unknown flow has no steps');

select pgflow.create_flow('gfs_empty');
select is(pgflow._get_flow_shape('gfs_empty'), '{"steps": []}'::jsonb, 'a flow without steps has no steps');

-- byte order for dependencies, as JavaScript's sort() in the worker's extractFlowShape
select pgflow.create_flow('gfs_case');
select pgflow.add_step('gfs_case', 'b');
select pgflow.add_step('gfs_case', 'a_z');
select pgflow.add_step('gfs_case', 'ab');
select pgflow.add_step('gfs_case', 'B');
select pgflow.add_step('gfs_case', 'last', array['b', 'ab', 'a_z', 'B']);
select is(
    pgflow._get_flow_shape('gfs_case') -> 'steps' -> 4 -> 'dependencies',
    '["B", "a_z", "ab", "b"]'::jsonb,
    'dependencies sort in byte order whatever the database collation'
);

select * from finish();
rollback;
