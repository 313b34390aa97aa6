begin;
select plan(4);

select pgflow.create_flow('rc_sfws');
select pgflow.add_step('rc_sfws', 'a');

select pgflow.start_flow_with_states('rc_sfws', '{"k":"v"}', '00000000-0000-0000-0000-00000000d001') as doc \gset
select is((:'doc'::jsonb) -> 'run' ->> 'run_id', '00000000-0000-0000-0000-00000000d001', 'the given run_id');
select is((:'doc'::jsonb) -> 'run' -> 'input', '{"k":"v"}'::jsonb, 'the run input');
select is(
    (:'doc'::jsonb) -> 'steps' -> 0 ->> 'status', 'started',
    'the document sees the state after start_flow (step already started)'
);
select is(
    (select prosecdef from pg_proc where oid = 'pgflow.start_flow_with_states(text, jsonb, uuid)'::regprocedure),
    true, 'SECURITY DEFINER'
);

select * from finish();
rollback;
