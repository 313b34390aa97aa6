begin;
select plan(6);

delete from vault.secrets where name in ('pgflow_auth_secret', 'supabase_service_role_key', 'supabase_project_id');
select set_config('app.settings.jwt_secret', 'super-secret-jwt-token-with-at-least-32-characters-long', true);
select pgflow.track_worker_function('ewl_fn');
insert into pgflow.workers (worker_id, queue_name, function_name)
values ('cccccccc-0000-0000-0000-000000000001', 'ewl_q', 'ewl_fn');

create temp table ewl_first as select * from pgflow.ensure_workers() as r where r.function_name = 'ewl_fn';

select is(
    (select count(*)::int from ewl_first), 1,
    'local mode needs no vault secrets and ignores alive workers'
);
select is(
    (select q.url from net.http_request_queue as q join ewl_first as r on r.request_id = q.id),
    'http://kong:8000/functions/v1/ewl_fn',
    'local requests go to the Supabase CLI gateway'
);
select is(
    (select q.headers from net.http_request_queue as q join ewl_first as r on r.request_id = q.id),
    '{}'::jsonb,
    'with no headers (no credentials locally)'
);
select ok(
    (select wf.last_invoked_at is not null from pgflow.worker_functions as wf where wf.function_name = 'ewl_fn'),
    'last_invoked_at is stamped'
);
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewl_fn'),
    1,
    'local mode does not debounce: every call pings every enabled function'
);

update pgflow.worker_functions set enabled = false where function_name = 'ewl_fn';
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewl_fn'),
    0,
    'a disabled function is not pinged locally either'
);

select * from finish();
rollback;
