-- House rule: every function in schema pgflow says `set search_path = ''` (no mutable search_path).
begin;
select plan(2);

select is(
    (select coalesce(array_agg(p.oid::regprocedure::text order by 1), '{}')
     from pg_proc as p
     where p.pronamespace = 'pgflow'::regnamespace
       and not coalesce('search_path=""' = any(p.proconfig), false)),
    '{}'::text[],
    'every function in schema pgflow has search_path='''''
);
select cmp_ok(
    (select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace), '>=', 25,
    'and there are functions to check'
);

select * from finish();
rollback;
