begin;
select plan(5);

select is(pgflow.is_local(), false, 'without app.settings.jwt_secret the database is not local');

select set_config('app.settings.jwt_secret', '', true);
select is(pgflow.is_local(), false, 'an empty jwt_secret is not local');

select set_config('app.settings.jwt_secret', 'some-production-secret-that-is-long-enough-to-pass', true);
select is(pgflow.is_local(), false, 'another secret is not local');

select set_config('app.settings.jwt_secret', 'super-secret-jwt-token-with-at-least-32-characters-long', true);
select is(pgflow.is_local(), true, 'the Supabase CLI development secret means local');

select is(
    (select p.provolatile::text || p.proparallel::text from pg_proc as p where p.oid = 'pgflow.is_local()'::regprocedure),
    'ss',
    'is_local is stable and parallel safe'
);

select * from finish();
rollback;
