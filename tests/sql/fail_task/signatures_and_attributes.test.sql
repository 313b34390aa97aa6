-- The failure-path functions are API: names, parameter names (callers use named arguments),
-- return types, and the house attributes (plpgsql, volatile, search_path pinned to '').
begin;
select plan(6);

select is(
    (select pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
     from pg_proc as p where p.oid = 'pgflow.fail_task(uuid, text, int, text)'::regprocedure),
    'run_id uuid, step_slug text, task_index integer, error_message text -> SETOF pgflow.step_tasks',
    'fail_task(run_id, step_slug, task_index, error_message) returns setof pgflow.step_tasks'
);
select is(
    (select pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
     from pg_proc as p where p.oid = 'pgflow.cascade_resolve_conditions(uuid)'::regprocedure),
    'run_id uuid -> boolean',
    'cascade_resolve_conditions(run_id) returns boolean'
);
select is(
    (select pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
     from pg_proc as p where p.oid = 'pgflow._cascade_force_skip_steps(uuid, text, text)'::regprocedure),
    'run_id uuid, step_slug text, skip_reason text -> integer',
    '_cascade_force_skip_steps(run_id, step_slug, skip_reason) returns int'
);
select is(
    (select array_agg(l.lanname || '/' || p.provolatile::text || '/' || array_to_string(p.proconfig, ',') order by p.proname)
     from pg_proc as p inner join pg_language as l on l.oid = p.prolang
     where p.pronamespace = 'pgflow'::regnamespace
       and p.proname in ('fail_task', 'cascade_resolve_conditions', '_cascade_force_skip_steps')),
    array['plpgsql/v/search_path=""', 'plpgsql/v/search_path=""', 'plpgsql/v/search_path=""'],
    'plpgsql, volatile, search_path pinned'
);
select is(
    (select count(*)::int from pg_proc as p
     where p.pronamespace = 'pgflow'::regnamespace
       and p.proname in ('fail_task', 'cascade_resolve_conditions', '_cascade_force_skip_steps')),
    3,
    'no overloads'
);
select is(
    (select array_agg(p.prosecdef) from pg_proc as p
     where p.pronamespace = 'pgflow'::regnamespace
       and p.proname in ('fail_task', 'cascade_resolve_conditions', '_cascade_force_skip_steps')),
    array[false, false, false],
    'none is security definer'
);

select * from finish();
rollback;
