begin;
select plan(6);

-- chains of n empty maps: m0 (root, over the input) -> m1 -> ... -> m<n-1>
create function pg_temp.rc_chain(flow text, n int) returns void language plpgsql as $$
begin
    perform pgflow.create_flow(flow);
    perform pgflow.add_step(flow, 'm0', step_type => 'map');
    for i in 1 .. n - 1 loop
        perform pgflow.add_step(flow, 'm' || i, array['m' || (i - 1)], step_type => 'map');
    end loop;
end;
$$;
select pg_temp.rc_chain('rc_chain49', 49);
select pg_temp.rc_chain('rc_chain50', 50);
select pg_temp.rc_chain('rc_chain51', 51);

select lives_ok(
    $$ select pgflow.start_flow('rc_chain49', '[]') $$, 'a chain of 49 empty maps completes (49 waves + 1 empty pass)'
);
select is(
    (select row(status, remaining_steps) from pgflow.runs where flow_slug = 'rc_chain49'),
    row('completed'::text, 0), 'and the run completes'
);
select is(
    (select count(*)::int from pgflow.step_states as ss join pgflow.runs as r using (run_id)
     where r.flow_slug = 'rc_chain49' and ss.status = 'completed' and ss.output = '[]'),
    49, 'every map completed with output []'
);
select throws_ok(
    $$ select pgflow.start_flow('rc_chain50', '[]') $$, 'P0001',
    'Cascade loop exceeded safety limit of 50 iterations', 'a chain of 50 raises (the empty 51st pass counts)'
);
select throws_ok(
    $$ select pgflow.start_flow('rc_chain51', '[]') $$, 'P0001',
    'Cascade loop exceeded safety limit of 50 iterations', 'a chain of 51 raises'
);

-- a failed run with no taskless steps: 0
select pgflow.create_flow('rc_ctl_failed');
select pgflow.add_step('rc_ctl_failed', 'a');
select run_id as run from pgflow.start_flow('rc_ctl_failed', '{}') \gset
update pgflow.runs set status = 'failed', failed_at = now() where run_id = :'run';
select is(pgflow.cascade_complete_taskless_steps(:'run'), 0, 'returns 0 when nothing is taskless');

select * from finish();
rollback;
