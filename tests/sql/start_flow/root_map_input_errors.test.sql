begin;
select plan(7);

select pgflow.create_flow('rc_rootmap');
select pgflow.add_step('rc_rootmap', 'each', step_type => 'map');

select throws_ok(
    $$ select pgflow.start_flow('rc_rootmap', null) $$, 'P0001',
    'Flow rc_rootmap has root map steps but input is NULL', 'SQL NULL input'
);
select throws_ok(
    $$ select pgflow.start_flow('rc_rootmap', '{"a":1}') $$, 'P0001',
    'Flow rc_rootmap has root map steps but input is not an array (got object)', 'object input'
);
select throws_ok(
    $$ select pgflow.start_flow('rc_rootmap', '"s"') $$, 'P0001',
    'Flow rc_rootmap has root map steps but input is not an array (got string)', 'string input'
);
select throws_ok(
    $$ select pgflow.start_flow('rc_rootmap', '42') $$, 'P0001',
    'Flow rc_rootmap has root map steps but input is not an array (got number)', 'number input'
);
select throws_ok(
    $$ select pgflow.start_flow('rc_rootmap', 'true') $$, 'P0001',
    'Flow rc_rootmap has root map steps but input is not an array (got boolean)', 'boolean input'
);
select throws_ok(
    $$ select pgflow.start_flow('rc_rootmap', 'null') $$, 'P0001',
    'Flow rc_rootmap has root map steps but input is not an array (got null)', 'JSON null input'
);
select is((select count(*)::int from pgflow.runs where flow_slug = 'rc_rootmap'), 0, 'no run was created');

select * from finish();
rollback;
