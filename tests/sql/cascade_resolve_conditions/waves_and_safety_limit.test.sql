begin;
select plan(7);

-- a child of two parents skipped in the same pass loses both deps at once
select pgflow.create_flow('crc_two');
select pgflow.add_step('crc_two', 'p1', required_input_pattern => '{"never": true}');
select pgflow.add_step('crc_two', 'p2', forbidden_input_pattern => '{}');
select pgflow.add_step('crc_two', 'kid', array['p1', 'p2']);
select r.run_id as two from pgflow.start_flow('crc_two', '{}') as r \gset
select is(
    (select array_agg(ss.step_slug || '=' || ss.status || '/' || ss.remaining_deps order by ss.step_slug)
     from pgflow.step_states as ss where ss.run_id = :'two'),
    array['kid=started/0', 'p1=skipped/0', 'p2=skipped/0'],
    'remaining_deps drops by the number of parents skipped in the pass'
);
select is((select r.remaining_steps from pgflow.runs as r where r.run_id = :'two'), 1, 'remaining_steps 3 - 2');

-- a direct call with no candidate changes nothing and says the run may continue
select count(*) as ev from pgflow_tests.run_events(:'two') \gset
select is(pgflow.cascade_resolve_conditions(:'two'), true, 'no candidate: true');
select is((select count(*)::int from pgflow_tests.run_events(:'two')), :ev, 'and no event');

-- chains of conditional steps: one pass per link, at most 50 passes in all
create function pg_temp.chain(flow text, n int) returns void language plpgsql as $$
begin
    perform pgflow.create_flow(flow);
    perform pgflow.add_step(flow, 'c1', required_input_pattern => '{"never": true}');
    for i in 2..n loop
        perform pgflow.add_step(flow, 'c' || i, array['c' || (i - 1)], required_input_pattern => '{"never": true}');
    end loop;
end;
$$;
select pg_temp.chain('crc_chain49', 49);
select pg_temp.chain('crc_chain50', 50);
select r.run_id as c49 from pgflow.start_flow('crc_chain49', '{}') as r \gset
select is(
    (select row(r.status, r.remaining_steps)::text from pgflow.runs as r where r.run_id = :'c49'),
    row('completed', 0)::text,
    'a chain of 49 skipped steps takes 50 passes and completes'
);
select is(
    (select count(*)::int from pgflow_tests.run_events(:'c49') where event like '%:skipped'), 49, 'one event per step'
);
select throws_ok(
    $$ select pgflow.start_flow('crc_chain50', '{}') $$,
    'P0001',
    'cascade_resolve_conditions exceeded safety limit of 50 iterations',
    'a chain of 50 needs a 51st pass and hits the limit'
);

select * from finish();
rollback;
