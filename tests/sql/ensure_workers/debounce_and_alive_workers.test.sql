begin;
select plan(9);

delete from vault.secrets where name in ('pgflow_auth_secret', 'supabase_service_role_key', 'supabase_project_id');
select vault.create_secret('key', 'supabase_service_role_key');
select vault.create_secret('proj', 'supabase_project_id');
select pgflow.track_worker_function('ewd_fn');

select is(
    (select array_agg(r.function_name) from pgflow.ensure_workers() as r where r.function_name like 'ewd_%'),
    array['ewd_fn'],
    'a never-invoked function without workers is invoked'
);
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewd_fn'),
    0,
    'a second call right after is debounced'
);

update pgflow.worker_functions set last_invoked_at = now() - interval '5 seconds' where function_name = 'ewd_fn';
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewd_fn'),
    0,
    'still debounced 5 s after the last ping (debounce 6 s)'
);

update pgflow.worker_functions set last_invoked_at = now() - interval '7 seconds' where function_name = 'ewd_fn';
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewd_fn'),
    1,
    'invoked again once the debounce has passed'
);

-- an alive worker (fresh heartbeat, not stopped, not deprecated) suppresses the ping
update pgflow.worker_functions set last_invoked_at = null where function_name = 'ewd_fn';
insert into pgflow.workers (worker_id, queue_name, function_name, last_heartbeat_at)
values ('bbbbbbbb-0000-0000-0000-000000000001', 'ewd_q', 'ewd_fn', now());
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewd_fn'),
    0,
    'a function with an alive worker is not invoked'
);

update pgflow.workers set last_heartbeat_at = now() - interval '10 seconds'
where worker_id = 'bbbbbbbb-0000-0000-0000-000000000001';
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewd_fn'),
    1,
    'a worker whose heartbeat is older than the debounce counts as dead'
);

update pgflow.worker_functions set last_invoked_at = null where function_name = 'ewd_fn';
update pgflow.workers set last_heartbeat_at = now(), stopped_at = clock_timestamp()
where worker_id = 'bbbbbbbb-0000-0000-0000-000000000001';
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewd_fn'),
    1,
    'a stopped worker counts as dead'
);

update pgflow.worker_functions set last_invoked_at = null where function_name = 'ewd_fn';
update pgflow.workers set stopped_at = null, deprecated_at = now()
where worker_id = 'bbbbbbbb-0000-0000-0000-000000000001';
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewd_fn'),
    1,
    'a deprecated worker counts as dead'
);

-- a worker of another function does not keep this one alive
update pgflow.worker_functions set last_invoked_at = null where function_name = 'ewd_fn';
update pgflow.workers set deprecated_at = null, function_name = 'ewd_other'
where worker_id = 'bbbbbbbb-0000-0000-0000-000000000001';
select is(
    (select count(*)::int from pgflow.ensure_workers() as r where r.function_name = 'ewd_fn'),
    1,
    'only workers of the same function count'
);

select * from finish();
rollback;
