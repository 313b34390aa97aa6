-- _grant_role names what is wrong with its arguments; granting revokes PUBLIC's execute on the
-- writing SECURITY DEFINER functions (the owner keeps it) and leaves get_run_with_states alone;
-- calling it twice grants the same.
begin;
select plan(7);

select throws_ok($$ select pgflow.grant_viewer('grants_no_such_role') $$, '42704',
    'role grants_no_such_role does not exist: create it first (create role ... login password ...)',
    'an unknown role is named');
select throws_ok($$ select pgflow._grant_role('postgres', 'admin') $$, '22023',
    'kind must be worker, starter or viewer (got admin)', 'an unknown kind is named');
select ok(has_function_privilege('public', 'pgflow.start_flow_with_states(text, jsonb, uuid)', 'execute'),
    'before any grant, PUBLIC may run start_flow_with_states (as in pgflow)');

create role grants_test_twice;
select pgflow.grant_viewer('grants_test_twice');
select ok(not has_function_privilege('public', 'pgflow.start_flow_with_states(text, jsonb, uuid)', 'execute'),
    'after a grant, PUBLIC may not run start_flow_with_states');
select ok(has_function_privilege('public', 'pgflow.get_run_with_states(uuid)', 'execute'),
    '... but still get_run_with_states, which only reads');
select ok(has_function_privilege(current_user, 'pgflow.start_flow_with_states(text, jsonb, uuid)', 'execute'),
    '... and its owner may');
select is(
    array(select * from pgflow.grant_viewer('grants_test_twice')),
    array(select s from pgflow.grant_viewer('grants_test_twice') as s),
    'a second call grants the same again'
);

select * from finish();
rollback;
