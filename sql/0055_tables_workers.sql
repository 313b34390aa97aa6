-- Worker bookkeeping: workers (one row per worker process, heartbeats) and worker_functions
-- (Supabase edge functions that ensure_workers keeps alive). Written by workers and operators.

create table pgflow.workers (
    worker_id uuid not null,
    queue_name text not null,
    function_name text not null,
    started_at timestamptz not null default now(),
    deprecated_at timestamptz,
    stopped_at timestamptz,
    last_heartbeat_at timestamptz not null default now(),
    constraint workers_pkey primary key (worker_id)
);

create index idx_workers_queue_name on pgflow.workers (queue_name);
create index idx_workers_heartbeat on pgflow.workers (last_heartbeat_at);

create table pgflow.worker_functions (
    function_name text not null,
    enabled boolean not null default true,
    debounce interval not null default '6 seconds',
    last_invoked_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint worker_functions_pkey primary key (function_name),
    constraint worker_functions_debounce_check check (debounce >= '1 second'::interval)
);

comment on table pgflow.worker_functions is
'Edge functions that pgflow.ensure_workers() keeps alive by pinging them over pg_net.';
comment on column pgflow.worker_functions.enabled is 'Whether ensure_workers() pings this function.';
comment on column pgflow.worker_functions.debounce is 'Minimum time between two pings of this function.';
comment on column pgflow.worker_functions.last_invoked_at is 'When ensure_workers() last pinged this function.';
