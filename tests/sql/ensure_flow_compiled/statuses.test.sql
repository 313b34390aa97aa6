begin;
select plan(14);

create temp table efc_shape (name text primary key, shape jsonb);
insert into efc_shape values
('v1', '{"steps": [
    {"slug": "a", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
     "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}},
    {"slug": "b", "stepType": "single", "dependencies": ["a"], "whenUnmet": "skip", "whenExhausted": "fail",
     "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false},
     "options": {"timeout": 5}}
  ], "options": {"maxAttempts": 2}}'),
('v2', '{"steps": [
    {"slug": "a", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
     "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}},
    {"slug": "c", "stepType": "single", "dependencies": ["a"], "whenUnmet": "skip", "whenExhausted": "fail",
     "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}}
  ]}');

select is(
    pgflow.ensure_flow_compiled('efc_flow', (select s.shape from efc_shape as s where s.name = 'v1')),
    '{"status": "compiled", "differences": []}'::jsonb,
    'a new flow is compiled'
);
select is(
    (select row(f.opt_max_attempts, f.opt_timeout) from pgflow.flows as f where f.flow_slug = 'efc_flow'),
    row(2, 60),
    'with the shape''s options'
);
select is(
    pgflow.ensure_flow_compiled('efc_flow', (select s.shape from efc_shape as s where s.name = 'v1')),
    '{"status": "verified", "differences": []}'::jsonb,
    'the same shape again is verified'
);
select is(
    pgflow.ensure_flow_compiled(
        flow_slug => 'efc_flow',
        shape => (select s.shape #- '{options}' #- '{steps,1,options}' from efc_shape as s where s.name = 'v1')
    ),
    '{"status": "verified", "differences": []}'::jsonb,
    'options do not matter for verification'
);

-- a stored run, to see what recompiling does to data
insert into pgflow.runs (flow_slug, input) values ('efc_flow', '{}');

select is(
    pgflow.ensure_flow_compiled('efc_flow', (select s.shape from efc_shape as s where s.name = 'v2')),
    jsonb_build_object('status', 'mismatch', 'differences', jsonb_build_array('Step at index 1: slug differs ''c'' vs ''b''')),
    'a different shape in production without allow_data_loss is a mismatch (worker''s shape first)'
);
select is(
    pgflow._get_flow_shape('efc_flow') -> 'steps' -> 1 ->> 'slug', 'b', 'a mismatch changes nothing'
);
select is((select count(*)::int from pgflow.runs as r where r.flow_slug = 'efc_flow'), 1, 'and keeps the runs');

select is(
    pgflow.ensure_flow_compiled('efc_flow', (select s.shape from efc_shape as s where s.name = 'v2'), allow_data_loss => true),
    jsonb_build_object('status', 'recompiled', 'differences', jsonb_build_array('Step at index 1: slug differs ''c'' vs ''b''')),
    'allow_data_loss recompiles and reports what differed'
);
select is(
    (select array_agg(s.step_slug order by s.step_index) from pgflow.steps as s where s.flow_slug = 'efc_flow'),
    array['a', 'c'],
    'the stored definition is the new shape'
);
select is(
    (select row(f.opt_max_attempts) from pgflow.flows as f where f.flow_slug = 'efc_flow'),
    row(3),
    'flow options are those of the new shape (defaults)'
);
select is((select count(*)::int from pgflow.runs as r where r.flow_slug = 'efc_flow'), 0, 'the old runs are gone');

-- local development: recompile without asking
select set_config('app.settings.jwt_secret', 'super-secret-jwt-token-with-at-least-32-characters-long', true);
select is(
    pgflow.ensure_flow_compiled('efc_flow', (select s.shape from efc_shape as s where s.name = 'v1')) ->> 'status',
    'recompiled',
    'locally a mismatch is recompiled even without allow_data_loss'
);
select is(
    pgflow._get_flow_shape('efc_flow'),
    (select s.shape #- '{options}' #- '{steps,1,options}' from efc_shape as s where s.name = 'v1'),
    'and the stored shape equals the worker''s shape minus options'
);
select is(
    pgflow.ensure_flow_compiled('efc_flow', (select s.shape from efc_shape as s where s.name = 'v1')) ->> 'status',
    'verified',
    'locally a matching flow is still just verified'
);

select * from finish();
rollback;
