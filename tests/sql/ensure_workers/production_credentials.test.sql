begin;
select plan(12);

delete from vault.secrets where name in ('pgflow_auth_secret', 'supabase_service_role_key', 'supabase_project_id');
select pgflow.track_worker_function('ewc_fn');

-- no credentials at all
select is((select count(*)::int from pgflow.ensure_workers()), 0, 'without vault secrets nothing is invoked');
select is(
    (select wf.last_invoked_at from pgflow.worker_functions as wf where wf.function_name = 'ewc_fn'),
    null,
    'and last_invoked_at stays NULL'
);

-- a key but no project id
select vault.create_secret('service-role-key', 'supabase_service_role_key');
select is((select count(*)::int from pgflow.ensure_workers()), 0, 'without supabase_project_id nothing is invoked');

-- an empty project id counts as missing
select vault.create_secret('', 'supabase_project_id');
select is((select count(*)::int from pgflow.ensure_workers()), 0, 'an empty supabase_project_id counts as missing');

update vault.secrets set secret = 'proj123' where name = 'supabase_project_id';
create temp table ewc_result as select * from pgflow.ensure_workers();

select is(
    (select row(r.function_name, r.invoked) from ewc_result as r),
    row('ewc_fn'::text, true),
    'with a project id and the service role key the function is invoked'
);
select is(
    (select q.url from net.http_request_queue as q join ewc_result as r on r.request_id = q.id),
    'https://proj123.supabase.co/functions/v1/ewc_fn',
    'the request goes to the project''s functions URL'
);
select is(
    (select q.headers from net.http_request_queue as q join ewc_result as r on r.request_id = q.id),
    '{"Content-Type": "application/json", "Authorization": "Bearer service-role-key"}'::jsonb,
    'with the service role key as bearer token and a JSON content type'
);
select is(
    (select convert_from(q.body, 'UTF8')::jsonb from net.http_request_queue as q join ewc_result as r on r.request_id = q.id),
    '{}'::jsonb,
    'and an empty JSON body'
);
select ok(
    (select wf.last_invoked_at >= now() from pgflow.worker_functions as wf where wf.function_name = 'ewc_fn'),
    'last_invoked_at is stamped with the wall clock'
);

-- pgflow_auth_secret wins over the service role key, but only when non-empty
update pgflow.worker_functions set last_invoked_at = null where function_name = 'ewc_fn';
select vault.create_secret('', 'pgflow_auth_secret');
create temp table ewc_second as select * from pgflow.ensure_workers();
select is(
    (select q.headers ->> 'Authorization' from ewc_second as r join net.http_request_queue as q on q.id = r.request_id),
    'Bearer service-role-key',
    'an empty pgflow_auth_secret falls back to the service role key'
);
update pgflow.worker_functions set last_invoked_at = null where function_name = 'ewc_fn';
update vault.secrets set secret = 'my-auth-secret' where name = 'pgflow_auth_secret';
create temp table ewc_third as select * from pgflow.ensure_workers();
select is(
    (select q.headers ->> 'Authorization' from ewc_third as r join net.http_request_queue as q on q.id = r.request_id),
    'Bearer my-auth-secret',
    'pgflow_auth_secret is preferred over the service role key'
);

-- disabled functions are never pinged
update pgflow.worker_functions set last_invoked_at = null, enabled = false where function_name = 'ewc_fn';
select is((select count(*)::int from pgflow.ensure_workers()), 0, 'a disabled function is not invoked');

select * from finish();
rollback;
