begin;
select plan(17);

select pgflow.create_flow('as_flow');
select is(
    (select s.step_index from pgflow.add_step('as_flow', 'a') as s), 0, 'first step gets step_index 0'
);
select is(
    (select row(s.step_index, s.deps_count, s.step_type) from pgflow.add_step('as_flow', 'b', array['a']) as s),
    row(1, 1, 'single'::text),
    'second step: index 1, one dependency, single by default'
);
select is(
    (select count(*)::int from pgflow.deps where flow_slug = 'as_flow' and step_slug = 'b' and dep_slug = 'a'),
    1, 'the dependency edge is stored'
);
select is(
    (select s.step_index from pgflow.add_step('as_flow', 'b', array['a'], max_attempts => 9) as s),
    1, 're-adding a step returns the existing row'
);
select is(
    (select opt_max_attempts from pgflow.steps where flow_slug = 'as_flow' and step_slug = 'b'),
    null::int, 're-adding does not update options'
);
select throws_ok(
    $$ select pgflow.add_step('as_flow', 'm', array['a', 'b'], step_type => 'map') $$,
    'P0001',
    'Map step "m" can have at most one dependency, but 2 were provided: a, b',
    'a map step with two dependencies is refused'
);
select throws_ok(
    $$ select pgflow.add_step('as_flow', 'm', array['a', 'a'], step_type => 'map') $$,
    'P0001',
    'Map step "m" can have at most one dependency, but 2 were provided: a, a',
    'a map step given the same dependency twice is refused (two were given)'
);
select throws_ok(
    $$ select pgflow.add_step('as_flow', 'n', array['a', null]) $$,
    '23502',
    'null value in column "dep_slug" of relation "deps" violates not-null constraint',
    'a NULL dependency is refused'
);
select is(
    (select count(*)::int from pgflow.steps where flow_slug = 'as_flow' and step_slug in ('m', 'n')),
    0,
    'and nothing of those calls is written'
);
select is(
    (select s.deps_count from pgflow.add_step('as_flow', 'd2', array['a', 'b', 'a']) as s),
    2,
    'a single step given a dependency twice has it once (one edge, counted once)'
);
select throws_ok(
    $$ select pgflow.add_step('no_such_flow', 'x') $$,
    '23503',
    'insert or update on table "steps" violates foreign key constraint "steps_flow_slug_fkey"',
    'unknown flow'
);
select throws_ok(
    $$ select pgflow.add_step('as_flow', 'c', array['nope']) $$,
    '23503',
    'insert or update on table "deps" violates foreign key constraint "deps_flow_slug_dep_slug_fkey"',
    'unknown dependency'
);
select throws_ok(
    $$ select pgflow.add_step('as_flow', 'selfish', array['selfish']) $$,
    '23514',
    'new row for relation "deps" violates check constraint "deps_check"',
    'self-dependency'
);
select throws_ok(
    $$ select pgflow.add_step('as_flow', 'a', array['b']) $$,
    'P0001',
    'Adding dependencies [b] to step "a" of flow "as_flow" would create a cycle',
    'an edge that closes a cycle is refused'
);
select pgflow.add_step('as_flow', 'z');
select pgflow.add_step('as_flow', 'b', array['a', 'z']);
select is(
    (select array_agg(dep_slug order by dep_slug) from pgflow.deps where flow_slug = 'as_flow' and step_slug = 'b'),
    array['a', 'z'],
    're-adding a step with a new (acyclic) dependency inserts the edge, as pgflow does'
);
select throws_like(
    $$ select pgflow.add_step('as_flow', 'bad_mode', when_unmet => 'ignore') $$,
    '%when_unmet_is_valid%',
    'an unknown when_unmet mode is refused'
);
select throws_like(
    $$ select pgflow.add_step('as_flow', 'bad_type', step_type => 'loop') $$,
    '%steps_step_type_check%',
    'an unknown step type is refused'
);

select * from finish();
rollback;
