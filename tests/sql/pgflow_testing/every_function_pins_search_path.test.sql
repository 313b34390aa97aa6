-- House rule, for the optional schema too: every function in pgflow_testing says
-- `set search_path = ''`, and the three documented helpers are there.
begin;
select plan(2);

select is(
    (select coalesce(array_agg(p.oid::regprocedure::text order by 1), '{}')
     from pg_proc as p
     where p.pronamespace = 'pgflow_testing'::regnamespace
       and not coalesce('search_path=""' = any(p.proconfig), false)),
    '{}'::text[],
    'every function in schema pgflow_testing has search_path='''''
);
select bag_eq(
    $$ select p.oid::regprocedure::text from pg_proc as p
       where p.pronamespace = 'pgflow_testing'::regnamespace and p.proname not like '\_%' $$,
    array[
        'pgflow_testing.complete_next(text,jsonb,text,uuid)',
        'pgflow_testing.fail_next(text,text,text,uuid)',
        'pgflow_testing.run_to_completion(text,jsonb,jsonb)'
    ],
    'the public helpers and their signatures'
);

select * from finish();
rollback;
