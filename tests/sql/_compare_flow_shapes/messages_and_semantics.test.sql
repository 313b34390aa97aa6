begin;
select plan(14);

create temp table cfs_step (name text primary key, step jsonb);
insert into cfs_step values
('a', '{"slug": "a", "stepType": "single", "dependencies": [], "whenUnmet": "skip", "whenExhausted": "fail",
  "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}}'),
('b', '{"slug": "b", "stepType": "single", "dependencies": ["a"], "whenUnmet": "skip", "whenExhausted": "fail",
  "requiredInputPattern": {"defined": false}, "forbiddenInputPattern": {"defined": false}}');

create function pg_temp.shape(variadic steps jsonb []) returns jsonb language sql as $$
    select jsonb_build_object('steps', coalesce((select jsonb_agg(s order by o) from unnest(steps) with ordinality as u (s, o)), '[]'))
$$;
create function pg_temp.st(name text) returns jsonb language sql as $$
    select c.step from cfs_step as c where c.name = st.name
$$;

select is(
    pgflow._compare_flow_shapes(pg_temp.shape(pg_temp.st('a'), pg_temp.st('b')), pg_temp.shape(pg_temp.st('a'), pg_temp.st('b'))),
    '{}'::text [],
    'equal shapes: an empty array'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('a'), pg_temp.st('b')) || '{"options": {"maxAttempts": 9}}',
        pg_temp.shape(pg_temp.st('a') || '{"options": {"timeout": 3}}', pg_temp.st('b'))
    ),
    '{}'::text [],
    'flow and step options are never compared'
);
select is(
    pgflow._compare_flow_shapes(pg_temp.shape(pg_temp.st('a'), pg_temp.st('b')), pg_temp.shape(pg_temp.st('a'))),
    array['Step count differs: 2 vs 1', 'Step at index 1: missing in second shape (first has ''b'')'],
    'a step missing in the second shape'
);
select is(
    pgflow._compare_flow_shapes('{"steps": []}', pg_temp.shape(pg_temp.st('a'), pg_temp.st('b'))),
    array[
        'Step count differs: 0 vs 2',
        'Step at index 0: missing in first shape (second has ''a'')',
        'Step at index 1: missing in first shape (second has ''b'')'
    ],
    'steps missing in the first shape'
);
select is(
    pgflow._compare_flow_shapes('{}', '{"steps": []}'), '{}'::text [], 'a shape without "steps" has no steps'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('a'), pg_temp.st('b')),
        pg_temp.shape(
            pg_temp.st('a'),
            '{"slug": "c", "stepType": "map", "dependencies": ["z", "a"], "whenUnmet": "fail", "whenExhausted": "skip",
              "requiredInputPattern": {"defined": true, "value": {"status": "active"}},
              "forbiddenInputPattern": {"defined": true, "value": {"x": 1}}}'
        )
    ),
    array[
        'Step at index 1: slug differs ''b'' vs ''c''',
        'Step at index 1: type differs ''single'' vs ''map''',
        'Step at index 1: dependencies differ [a] vs [a, z]',
        'Step at index 1: whenUnmet differs ''skip'' vs ''fail''',
        'Step at index 1: whenExhausted differs ''fail'' vs ''skip''',
        'Step at index 1: requiredInputPattern differs ''{"defined": false}'' vs ''{"value": {"status": "active"}, "defined": true}''',
        'Step at index 1: forbiddenInputPattern differs ''{"defined": false}'' vs ''{"value": {"x": 1}, "defined": true}'''
    ],
    'every field that differs, in the documented order, patterns as canonical jsonb text'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('b') || '{"dependencies": ["y", "x"]}'),
        pg_temp.shape(pg_temp.st('b') || '{"dependencies": ["x", "y"]}')
    ),
    '{}'::text [],
    'dependency order does not matter (each side is sorted)'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('b') || '{"dependencies": ["y", "x"]}'),
        pg_temp.shape(pg_temp.st('b') - 'dependencies')
    ),
    array['Step at index 0: dependencies differ [x, y] vs []'],
    'missing dependencies count as none, and each side is listed sorted'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('a') - 'slug' - 'stepType' - 'whenUnmet' - 'whenExhausted'),
        pg_temp.shape(pg_temp.st('b') || '{"dependencies": []}')
    ),
    '{}'::text [],
    'slug, stepType, whenUnmet, whenExhausted missing on one side: no difference (text != with NULL)'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('a') - 'requiredInputPattern'),
        pg_temp.shape(pg_temp.st('a'))
    ),
    array['Step at index 0: requiredInputPattern differs '''' vs ''{"defined": false}'''],
    'a pattern missing on one side IS a difference (IS DISTINCT FROM)'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('a')),
        pg_temp.shape(pg_temp.st('a') - 'forbiddenInputPattern')
    ),
    array['Step at index 0: forbiddenInputPattern differs ''{"defined": false}'' vs '''''],
    'forbiddenInputPattern likewise'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('a') || '{"requiredInputPattern": {"value": {"k": [1, 2]}, "defined": true}}'),
        pg_temp.shape(pg_temp.st('a') || '{"requiredInputPattern": {"defined": true, "value": {"k": [1, 2]}}}')
    ),
    '{}'::text [],
    'patterns compare as jsonb, not as text (key order does not matter)'
);
select is(
    pgflow._compare_flow_shapes(
        pg_temp.shape(pg_temp.st('a') || '{"requiredInputPattern": {"defined": true, "value": {"k": [2, 1]}}}'),
        pg_temp.shape(pg_temp.st('a') || '{"requiredInputPattern": {"defined": true, "value": {"k": [1, 2]}}}')
    ),
    array[
        'Step at index 0: requiredInputPattern differs ''{"value": {"k": [2, 1]}, "defined": true}'' vs '
        || '''{"value": {"k": [1, 2]}, "defined": true}'''
    ],
    'array order inside a pattern matters'
);
select is(
    (select p.provolatile::text from pg_proc as p where p.oid = 'pgflow._compare_flow_shapes(jsonb, jsonb)'::regprocedure),
    's',
    'stable, with parameters (p_local, p_db)'
);

select * from finish();
rollback;
