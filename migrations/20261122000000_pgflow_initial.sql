-- Generated from sql/ by scripts/gen_migration.py: edit sql/, then regenerate. Do not edit.

-- ==== sql/0010_extensions.sql ====
-- Extensions pgflow depends on.
--
-- pgmq (>= 1.5.0, for the `headers` column) is required. Where the server offers the pgmq
-- extension (Supabase, or a server with pgmq's control file installed) it is created here in
-- schema pgmq. Where pgmq was installed as plain SQL (`pgflow migrate` does that from the PyPI
-- `pgmq` package) it is used as it is. Otherwise installation stops with an error that says how
-- to install pgmq.
--
-- Supabase integrations (pg_net, pg_cron, vault, realtime) are optional: pg_net and pg_cron are
-- created when the server offers them and left alone when it does not. Nothing in this schema
-- needs them to install.
do $$
begin
    if to_regclass('pgmq.meta') is null then
        if exists (select 1 from pg_catalog.pg_available_extensions as ae where ae.name = 'pgmq') then
            create schema if not exists pgmq;
            create extension if not exists pgmq with schema pgmq;
        else
            raise exception 'pgflow needs pgmq (>= 1.5.0), which is not installed in this database'
                using hint = 'Run `pgflow migrate --dsn <url>` (it installs the pgmq SQL bundled with the '
                || 'PyPI package "pgmq"), or install the pgmq extension on the server and run '
                || '`create extension pgmq`.';
        end if;
    end if;

    if not exists (
        select 1
        from pg_catalog.pg_attribute as a
        where a.attrelid = to_regclass('pgmq.message_record')
            and a.attname = 'headers'
            and not a.attisdropped
    ) then
        raise exception 'pgflow needs pgmq >= 1.5.0 (pgmq.message_record has no "headers" attribute)'
            using hint = 'Upgrade pgmq: `alter extension pgmq update`, or reinstall it from a newer release.';
    end if;

    if exists (select 1 from pg_catalog.pg_available_extensions as ae where ae.name = 'pg_net') then
        create extension if not exists pg_net with schema public;
    end if;
    if exists (select 1 from pg_catalog.pg_available_extensions as ae where ae.name = 'pg_cron') then
        create extension if not exists pg_cron;
    end if;
end;
$$;

-- ==== sql/0020_schemas.sql ====
-- The pgflow schema: every table, type and function of the engine lives here.
create schema if not exists pgflow;

-- ==== sql/0040_types.sql ====
-- pgflow.step_task_record: one started task as returned to a worker by start_tasks.
-- Attribute order is API (callers use `select *`).
create type pgflow.step_task_record as (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb
);

-- ==== sql/0045_function_is_valid_slug.sql ====
-- pgflow.is_valid_slug(slug): true iff slug is a usable flow or step identifier.
-- Used by the slug CHECK constraints of flows and steps, so it must exist before the tables.
-- Rule: non-NULL, non-empty, at most 128 characters, ^[a-zA-Z_][a-zA-Z0-9_]*$, and not 'run'
-- (reserved: older step inputs used a "run" key). Raises nothing.
create or replace function pgflow.is_valid_slug(slug text)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
    return slug is not null
        and slug <> ''
        and length(slug) <= 128
        and slug ~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
        and slug <> 'run';
end;
$$;

-- ==== sql/0046_function_calculate_retry_delay.sql ====
-- pgflow.calculate_retry_delay(base_delay, attempts_count): seconds before a failed task is
-- retried, floor(base_delay * 2^attempts_count); attempts_count already counts the failed attempt.
-- Called by fail_task. Raises nothing.
create or replace function pgflow.calculate_retry_delay(base_delay numeric, attempts_count int)
returns int
language sql
immutable
parallel safe
set search_path = ''
as $$
    select floor(base_delay * power(2, attempts_count))::int;
$$;

-- ==== sql/0050_tables_definitions.sql ====
-- Flow definitions: flows, steps (DAG nodes) and deps (DAG edges).
-- Written by create_flow / add_step / ensure_flow_compiled; read by every runtime function.

create table pgflow.flows (
    flow_slug text not null,
    opt_max_attempts int not null default 3,
    opt_base_delay int not null default 1,
    opt_timeout int not null default 60,
    created_at timestamptz not null default now(),
    constraint flows_pkey primary key (flow_slug),
    constraint slug_is_valid check (pgflow.is_valid_slug(flow_slug)),
    constraint opt_max_attempts_is_nonnegative check (opt_max_attempts >= 0),
    constraint opt_base_delay_is_nonnegative check (opt_base_delay >= 0),
    constraint opt_timeout_is_positive check (opt_timeout > 0)
);

create table pgflow.steps (
    flow_slug text not null,
    step_slug text not null,
    step_type text not null default 'single',
    step_index int not null default 0,
    deps_count int not null default 0,
    opt_max_attempts int,
    opt_base_delay int,
    opt_timeout int,
    opt_start_delay int,
    required_input_pattern jsonb,
    forbidden_input_pattern jsonb,
    when_unmet text not null default 'skip',
    when_exhausted text not null default 'fail',
    created_at timestamptz not null default now(),
    constraint steps_pkey primary key (flow_slug, step_slug),
    constraint steps_flow_slug_step_index_key unique (flow_slug, step_index),
    constraint steps_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint steps_step_slug_check check (pgflow.is_valid_slug(step_slug)),
    constraint steps_step_type_check check (step_type in ('single', 'map')),
    constraint steps_deps_count_check check (deps_count >= 0),
    constraint opt_max_attempts_is_nonnegative check (opt_max_attempts is null or opt_max_attempts >= 0),
    constraint opt_base_delay_is_nonnegative check (opt_base_delay is null or opt_base_delay >= 0),
    constraint opt_timeout_is_positive check (opt_timeout is null or opt_timeout > 0),
    constraint opt_start_delay_is_nonnegative check (opt_start_delay is null or opt_start_delay >= 0),
    constraint required_input_pattern_is_object check (
        required_input_pattern is null or jsonb_typeof(required_input_pattern) = 'object'
    ),
    constraint forbidden_input_pattern_is_object check (
        forbidden_input_pattern is null or jsonb_typeof(forbidden_input_pattern) = 'object'
    ),
    constraint when_unmet_is_valid check (when_unmet in ('fail', 'skip', 'skip-cascade')),
    constraint when_exhausted_is_valid check (when_exhausted in ('fail', 'skip', 'skip-cascade'))
);

create table pgflow.deps (
    flow_slug text not null,
    dep_slug text not null,
    step_slug text not null,
    created_at timestamptz not null default now(),
    constraint deps_pkey primary key (flow_slug, dep_slug, step_slug),
    constraint deps_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint deps_flow_slug_dep_slug_fkey foreign key (flow_slug, dep_slug)
    references pgflow.steps (flow_slug, step_slug),
    constraint deps_flow_slug_step_slug_fkey foreign key (flow_slug, step_slug)
    references pgflow.steps (flow_slug, step_slug),
    constraint deps_check check (dep_slug <> step_slug)
);

create index idx_deps_by_flow_step on pgflow.deps (flow_slug, step_slug);
create index idx_deps_by_flow_dep on pgflow.deps (flow_slug, dep_slug);

-- ==== sql/0055_tables_workers.sql ====
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

-- ==== sql/0060_tables_runtime.sql ====
-- Runtime state: runs (one per start_flow), step_states (one per run and step) and step_tasks
-- (one per unit of work: 1 for a single step, one per element for a map step).

create table pgflow.runs (
    run_id uuid not null default gen_random_uuid(),
    flow_slug text not null,
    status text not null default 'started',
    input jsonb not null,
    output jsonb,
    remaining_steps int not null default 0,
    started_at timestamptz not null default now(),
    completed_at timestamptz,
    failed_at timestamptz,
    constraint runs_pkey primary key (run_id),
    constraint runs_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint status_is_valid check (status in ('started', 'failed', 'completed')),
    constraint runs_remaining_steps_check check (remaining_steps >= 0),
    constraint completed_at_or_failed_at check (not (completed_at is not null and failed_at is not null)),
    constraint completed_at_is_after_started_at check (completed_at is null or completed_at >= started_at),
    constraint failed_at_is_after_started_at check (failed_at is null or failed_at >= started_at)
);

create index idx_runs_flow_slug on pgflow.runs (flow_slug);
create index idx_runs_status on pgflow.runs (status);

create table pgflow.step_states (
    flow_slug text not null,
    run_id uuid not null,
    step_slug text not null,
    status text not null default 'created',
    remaining_tasks int,
    initial_tasks int,
    remaining_deps int not null default 0,
    output jsonb,
    error_message text,
    skip_reason text,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    completed_at timestamptz,
    failed_at timestamptz,
    skipped_at timestamptz,
    constraint step_states_pkey primary key (run_id, step_slug),
    constraint step_states_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint step_states_run_id_fkey foreign key (run_id) references pgflow.runs (run_id),
    constraint step_states_flow_slug_step_slug_fkey foreign key (flow_slug, step_slug)
    references pgflow.steps (flow_slug, step_slug),
    constraint status_is_valid check (status in ('created', 'started', 'completed', 'failed', 'skipped')),
    constraint step_states_initial_tasks_check check (initial_tasks is null or initial_tasks >= 0),
    constraint step_states_remaining_deps_check check (remaining_deps >= 0),
    constraint status_and_remaining_tasks_match check (status <> 'completed' or remaining_tasks = 0),
    constraint remaining_tasks_state_consistency check (
        remaining_tasks is null or status not in ('created', 'skipped')
    ),
    constraint initial_tasks_known_when_started check (status <> 'started' or initial_tasks is not null),
    constraint output_only_for_completed_or_null check (output is null or status = 'completed'),
    constraint skip_reason_matches_status check ((skip_reason is not null) = (status = 'skipped')),
    constraint completed_at_or_failed_at_or_skipped_at check (
        (
            (completed_at is not null)::int + (failed_at is not null)::int + (skipped_at is not null)::int
        ) <= 1
    ),
    constraint started_at_is_after_created_at check (started_at is null or started_at >= created_at),
    constraint completed_at_is_after_started_at check (completed_at is null or completed_at >= started_at),
    constraint failed_at_is_after_started_at check (failed_at is null or failed_at >= started_at),
    constraint skipped_at_is_after_created_at check (skipped_at is null or skipped_at >= created_at)
);

create index idx_step_states_ready on pgflow.step_states (run_id, status, remaining_deps)
where status = 'created' and remaining_deps = 0;
create index idx_step_states_failed on pgflow.step_states (run_id, step_slug) where status = 'failed';
create index idx_step_states_skipped on pgflow.step_states (run_id, step_slug) where status = 'skipped';
create index idx_step_states_flow_slug on pgflow.step_states (flow_slug);
create index idx_step_states_run_id on pgflow.step_states (run_id);

create table pgflow.step_tasks (
    flow_slug text not null,
    run_id uuid not null,
    step_slug text not null,
    message_id bigint,
    task_index int not null default 0,
    status text not null default 'queued',
    attempts_count int not null default 0,
    error_message text,
    output jsonb,
    queued_at timestamptz not null default now(),
    started_at timestamptz,
    completed_at timestamptz,
    failed_at timestamptz,
    last_worker_id uuid,
    requeued_count int not null default 0,
    last_requeued_at timestamptz,
    permanently_stalled_at timestamptz,
    constraint step_tasks_pkey primary key (run_id, step_slug, task_index),
    constraint step_tasks_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint step_tasks_run_id_fkey foreign key (run_id) references pgflow.runs (run_id),
    constraint step_tasks_run_id_step_slug_fkey foreign key (run_id, step_slug)
    references pgflow.step_states (run_id, step_slug),
    constraint step_tasks_last_worker_id_fkey foreign key (last_worker_id)
    references pgflow.workers (worker_id) on delete set null,
    constraint valid_status check (status in ('queued', 'started', 'completed', 'failed')),
    constraint attempts_count_nonnegative check (attempts_count >= 0),
    constraint output_valid_only_for_completed check (output is null or status in ('completed', 'failed')),
    constraint completed_at_or_failed_at check (not (completed_at is not null and failed_at is not null)),
    constraint completed_at_is_after_queued_at check (completed_at is null or completed_at >= queued_at),
    constraint failed_at_is_after_queued_at check (failed_at is null or failed_at >= queued_at),
    constraint started_at_is_after_queued_at check (started_at is null or started_at >= queued_at),
    constraint completed_at_is_after_started_at check (
        completed_at is null or started_at is null or completed_at >= started_at
    ),
    constraint failed_at_is_after_started_at check (
        failed_at is null or started_at is null or failed_at >= started_at
    )
);

create index idx_step_tasks_message_id on pgflow.step_tasks (message_id);
create index idx_step_tasks_queued on pgflow.step_tasks (run_id, step_slug) where status = 'queued';
create index idx_step_tasks_completed on pgflow.step_tasks (run_id, step_slug) where status = 'completed';
create index idx_step_tasks_failed on pgflow.step_tasks (run_id, step_slug) where status = 'failed';
create index idx_step_tasks_flow_run_step on pgflow.step_tasks (flow_slug, run_id, step_slug);
create index idx_step_tasks_started on pgflow.step_tasks (started_at) where status = 'started';
create index idx_step_tasks_queued_msg on pgflow.step_tasks (message_id) where status = 'queued';
create index idx_step_tasks_last_worker on pgflow.step_tasks (last_worker_id) where status = 'started';

-- ==== sql/0070_function__emit_event.sql ====
-- pgflow._emit_event(event, payload): publishes one run or step transition.
-- Called by every function that changes a run or step status, once per transition.
--
-- Two channels:
--   * Supabase Realtime: realtime.send(payload, event, 'pgflow:run:<run_id>', false), only when a
--     function realtime.send(jsonb, text, text, boolean) exists (Supabase, or a stand-in).
--   * LISTEN/NOTIFY, always: channel `pgflow`, payload = the event payload plus an "event" key.
--     NOTIFY payloads are limited to 8000 bytes, so when the payload is larger its bulky keys
--     (input, output, error_message) are dropped and "truncated": true is added; a listener then
--     reads the full state with pgflow.get_run_with_states(run_id).
-- Locks nothing. Raises nothing of its own.
create or replace function pgflow._emit_event(event text, payload jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_notify text;
begin
    if to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
        execute 'select realtime.send($1, $2, $3, false)'
        using _emit_event.payload, _emit_event.event, 'pgflow:run:' || (_emit_event.payload ->> 'run_id');
    end if;

    v_notify := (_emit_event.payload || jsonb_build_object('event', _emit_event.event))::text;
    if octet_length(v_notify) > 7900 then
        v_notify := (
            (_emit_event.payload - 'input' - 'output' - 'error_message')
            || jsonb_build_object('event', _emit_event.event, 'truncated', true)
        )::text;
    end if;
    perform pg_notify('pgflow', v_notify);
end;
$$;

-- ==== sql/0080_function_schema_version.sql ====
-- pgflow.schema_version(): the version of this schema, an integer that grows by one with every
-- release that changes sql/. The Python client and worker refuse to run against a database whose
-- schema is older (run `pgflow migrate`) or newer (upgrade pgflow-py) than they understand.
create or replace function pgflow.schema_version()
returns int
language sql
immutable
set search_path = ''
as $$
    select 1;
$$;

-- ==== sql/0100_function_add_step.sql ====
-- pgflow.add_step(...): appends a step (a DAG node) and its dependencies (edges) to a flow.
-- Called by users, compiled DSL output and _create_flow_from_shape.
-- Steps must be added in topological order: every dependency must already exist (FK).
-- Idempotent: re-adding an existing step with the same dependencies returns the existing row
-- untouched (options are not updated). Re-adding it with other dependencies raises, so that no
-- edge can be added after the fact (this is what keeps cycles out and deps_count true).
-- Locks: the flows row (FOR UPDATE) so that concurrent add_step calls get distinct step_index.
-- Raises: `Map step "<s>" can have at most one dependency, ...`; constraint violations named in
-- the contract (steps_flow_slug_fkey, deps_flow_slug_dep_slug_fkey, deps_check,
-- steps_step_slug_check, steps_step_type_check, when_unmet_is_valid, ...).
create or replace function pgflow.add_step(
    flow_slug text,
    step_slug text,
    deps_slugs text[] default '{}',
    max_attempts int default null,
    base_delay int default null,
    timeout int default null,
    start_delay int default null,
    step_type text default 'single',
    required_input_pattern jsonb default null,
    forbidden_input_pattern jsonb default null,
    when_unmet text default 'skip',
    when_exhausted text default 'fail'
)
returns pgflow.steps
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_step_type text := coalesce(add_step.step_type, 'single');
    v_deps text[];
    v_existing_deps text[];
    v_step pgflow.steps;
begin
    -- GUARD: distinct, non-NULL dependency slugs, in the order given
    select coalesce(array_agg(d.slug order by d.ord), '{}')
    into v_deps
    from (
        select u.slug, min(u.ord) as ord
        from unnest(add_step.deps_slugs) with ordinality as u (slug, ord)
        where u.slug is not null
        group by u.slug
    ) as d;

    if v_step_type = 'map' and cardinality(v_deps) > 1 then
        raise exception 'Map step "%" can have at most one dependency, but % were provided: %',
            add_step.step_slug, cardinality(v_deps), array_to_string(v_deps, ', ');
    end if;

    -- LOCKS: serialize step_index allocation per flow (no row: the insert raises the FK error)
    perform 1 from pgflow.flows as f where f.flow_slug = add_step.flow_slug for update;

    select * into v_step
    from pgflow.steps as s
    where s.flow_slug = add_step.flow_slug and s.step_slug = add_step.step_slug;

    if v_step.step_slug is not null then
        select coalesce(array_agg(d.dep_slug order by d.dep_slug), '{}') into v_existing_deps
        from pgflow.deps as d
        where d.flow_slug = add_step.flow_slug and d.step_slug = add_step.step_slug;

        if v_existing_deps is distinct from (select coalesce(array_agg(x order by x), '{}') from unnest(v_deps) as x) then
            raise exception 'Step "%" already exists in flow "%" with dependencies [%], not [%]',
                add_step.step_slug, add_step.flow_slug,
                array_to_string(v_existing_deps, ', '), array_to_string(v_deps, ', ')
                using hint = 'Dependencies of an existing step cannot change: delete the flow '
                || '(pgflow.delete_flow_and_data) or use a new flow slug.';
        end if;
        return v_step;
    end if;

    -- MAIN: the node, then its edges (the node first, so a self-dependency hits deps_check)
    insert into pgflow.steps as s (
        flow_slug, step_slug, step_type, step_index, deps_count,
        opt_max_attempts, opt_base_delay, opt_timeout, opt_start_delay,
        required_input_pattern, forbidden_input_pattern, when_unmet, when_exhausted
    )
    values (
        add_step.flow_slug,
        add_step.step_slug,
        v_step_type,
        coalesce(
            (select max(s2.step_index) + 1 from pgflow.steps as s2 where s2.flow_slug = add_step.flow_slug), 0
        ),
        cardinality(v_deps),
        add_step.max_attempts,
        add_step.base_delay,
        add_step.timeout,
        add_step.start_delay,
        add_step.required_input_pattern,
        add_step.forbidden_input_pattern,
        add_step.when_unmet,
        add_step.when_exhausted
    )
    returning * into v_step;

    insert into pgflow.deps (flow_slug, dep_slug, step_slug)
    select add_step.flow_slug, d.slug, add_step.step_slug
    from unnest(v_deps) as d (slug)
    on conflict on constraint deps_pkey do nothing;

    return v_step;
end;
$$;

-- ==== sql/0100_function_create_flow.sql ====
-- pgflow.create_flow(flow_slug, max_attempts, base_delay, timeout): defines a flow and its queue.
-- Called by users, compiled DSL output and _create_flow_from_shape.
-- NULL options mean the defaults 3 attempts / 5 s base delay / 60 s timeout. Idempotent: an
-- existing flow is returned unchanged (options are not updated). Creates the pgmq queue named
-- like the flow when it does not exist.
-- Locks: the flows row (insert). Raises: `new row for relation "flows" violates check constraint
-- "slug_is_valid"` for an invalid slug; pgmq's own error for slugs longer than its 47-character
-- queue-name limit.
create or replace function pgflow.create_flow(
    flow_slug text,
    max_attempts int default null,
    base_delay int default null,
    timeout int default null
)
returns pgflow.flows
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow pgflow.flows;
begin
    insert into pgflow.flows as f (flow_slug, opt_max_attempts, opt_base_delay, opt_timeout)
    values (
        create_flow.flow_slug,
        coalesce(create_flow.max_attempts, 3),
        coalesce(create_flow.base_delay, 5),
        coalesce(create_flow.timeout, 60)
    )
    on conflict on constraint flows_pkey do nothing
    returning * into v_flow;

    if v_flow.flow_slug is null then
        select * into v_flow from pgflow.flows as f where f.flow_slug = create_flow.flow_slug;
    end if;

    if not exists (select 1 from pgmq.list_queues() as q where q.queue_name = create_flow.flow_slug) then
        perform pgmq.create(create_flow.flow_slug);
    end if;

    return v_flow;
end;
$$;

-- ==== sql/0900_grants.sql ====
-- Privileges: nothing in schema pgflow is reachable by PUBLIC; grant what your roles need.
revoke all on schema pgflow from public;
