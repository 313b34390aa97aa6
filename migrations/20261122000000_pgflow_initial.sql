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
-- created when the server offers them and left alone when it does not, or when creating them
-- fails (then with a notice). Nothing in this schema needs them to install.
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

    -- Optional integrations: created where the server offers them and they can be created. A
    -- server may list an extension it cannot create here (pg_cron outside shared_preload_libraries,
    -- as on many managed servers; a stand-in `cron`/`net` schema already there): the install goes
    -- on without it, with a notice.
    if exists (select 1 from pg_catalog.pg_available_extensions as ae where ae.name = 'pg_net')
        and not exists (select 1 from pg_catalog.pg_extension as e where e.extname = 'pg_net') then
        begin
            create extension if not exists pg_net with schema public;
        exception when others then
            raise notice 'pg_net is offered by this server but could not be created (%): continuing without it', sqlerrm;
        end;
    end if;
    if exists (select 1 from pg_catalog.pg_available_extensions as ae where ae.name = 'pg_cron')
        and not exists (select 1 from pg_catalog.pg_extension as e where e.extname = 'pg_cron') then
        begin
            create extension if not exists pg_cron;
        exception when others then
            raise notice 'pg_cron is offered by this server but could not be created (%): continuing without '
                'it; schedule the jobs later with pgflow.setup_requeue_stalled_tasks_cron() and '
                'pgflow.setup_ensure_workers_cron(), or run `pgflow maintain`', sqlerrm;
        end;
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

-- ==== sql/0100_function__archive_run_messages.sql ====
-- pgflow._archive_run_messages(run_id): archives the pgmq messages of every queued or started
-- task of a run (all steps) in ONE pgmq.archive(queue, bigint[]) call; returns how many messages
-- were archived.
-- Called wherever a run fails: complete_task (type violation), fail_task,
-- cascade_resolve_conditions. Task rows keep their status: only the messages go, so no worker can
-- pick up work of a failed run.
-- Locks nothing itself (pgmq deletes the queue rows). Raises nothing; unknown run -> 0.
create or replace function pgflow._archive_run_messages(run_id uuid)
returns int
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow_slug text;
    v_msg_ids bigint[];
    v_count int;
begin
    select r.flow_slug into v_flow_slug
    from pgflow.runs as r
    where r.run_id = _archive_run_messages.run_id;

    select coalesce(array_agg(st.message_id order by st.message_id), '{}') into v_msg_ids
    from pgflow.step_tasks as st
    where
        st.run_id = _archive_run_messages.run_id
        and st.status in ('queued', 'started')
        and st.message_id is not null;

    if v_flow_slug is null or cardinality(v_msg_ids) = 0 then
        return 0;
    end if;

    select count(*)::int into v_count from pgmq.archive(v_flow_slug, v_msg_ids) as a;
    return v_count;
end;
$$;

-- ==== sql/0100_function__archive_task_message.sql ====
-- pgflow._archive_task_message(p_run_id, p_step_slug, p_task_index): moves one task's pgmq message
-- to the archive of the run's flow queue.
-- Called by complete_task and fail_task (late callbacks, finished tasks).
-- No-op when the task does not exist or has no message (message_id NULL), or when the message
-- was archived already. Locks nothing itself (pgmq deletes the queue row). Raises nothing.
create or replace function pgflow._archive_task_message(p_run_id uuid, p_step_slug text, p_task_index int)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform pgmq.archive(st.flow_slug, st.message_id)
    from pgflow.step_tasks as st
    where
        st.run_id = _archive_task_message.p_run_id
        and st.step_slug = _archive_task_message.p_step_slug
        and st.task_index = _archive_task_message.p_task_index
        and st.message_id is not null;
end;
$$;

-- ==== sql/0100_function__cascade_force_skip_steps.sql ====
-- pgflow._cascade_force_skip_steps(run_id, step_slug, skip_reason): skips a step and every step
-- that transitively depends on it, in one statement. The named step gets `skip_reason`, its
-- descendants get 'dependency_skipped'. Only steps still 'created' or 'started' change (terminal
-- ones are left as they are), so a second call skips nothing and emits nothing (idempotent).
-- For each newly skipped step: status 'skipped', skipped_at now(), remaining_tasks NULL, one
-- `step:<slug>:skipped` event (topological order = step_index order), and the messages of its
-- queued/started tasks are archived (the tasks keep their status). run.remaining_steps drops by
-- the number newly skipped. remaining_deps of other steps and the run status are not touched:
-- every step that could wait on a skipped step is itself skipped.
-- Called by cascade_resolve_conditions (when_unmet 'skip-cascade') and fail_task
-- (when_exhausted 'skip-cascade').
-- LOCKS: the run row (FOR UPDATE), then the skipped step_states rows (UPDATE).
-- Raises: `Run not found: <run_id>`.
create or replace function pgflow._cascade_force_skip_steps(run_id uuid, step_slug text, skip_reason text)
returns int
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow_slug text;
    v_skipped jsonb;
    v_count int;
    v_msg_ids bigint[];
begin
    -- GUARD + LOCKS: the run first, like every other transition
    select r.flow_slug into v_flow_slug
    from pgflow.runs as r
    where r.run_id = _cascade_force_skip_steps.run_id
    for update;

    if v_flow_slug is null then
        raise exception 'Run not found: %', _cascade_force_skip_steps.run_id;
    end if;

    -- MAIN: one wave skips the step and all its descendants
    with recursive subtree (step_slug) as (
        select _cascade_force_skip_steps.step_slug
        union
        select d.step_slug
        from pgflow.deps as d
        inner join subtree as t on t.step_slug = d.dep_slug
        where d.flow_slug = v_flow_slug
    ),

    skipped as (
        update pgflow.step_states as ss
        set status = 'skipped',
            skip_reason = case
                when ss.step_slug = _cascade_force_skip_steps.step_slug then _cascade_force_skip_steps.skip_reason
                else 'dependency_skipped'
            end,
            skipped_at = now(),
            remaining_tasks = null
        from subtree as t
        where
            ss.run_id = _cascade_force_skip_steps.run_id
            and ss.step_slug = t.step_slug
            and ss.status in ('created', 'started')
        returning ss.step_slug, ss.skip_reason, ss.skipped_at
    )

    select
        coalesce(
            jsonb_agg(
                jsonb_build_object(
                    'event_type', 'step:skipped',
                    'run_id', _cascade_force_skip_steps.run_id,
                    'flow_slug', v_flow_slug,
                    'step_slug', sk.step_slug,
                    'status', 'skipped',
                    'skip_reason', sk.skip_reason,
                    'skipped_at', sk.skipped_at
                )
                order by s.step_index
            ),
            '[]'::jsonb
        ),
        count(*)::int
    into v_skipped, v_count
    from skipped as sk
    inner join pgflow.steps as s on s.flow_slug = v_flow_slug and s.step_slug = sk.step_slug;

    if v_count = 0 then
        return 0;
    end if;

    -- Events, parents before children
    perform pgflow._emit_event('step:' || (e.payload ->> 'step_slug') || ':skipped', e.payload)
    from jsonb_array_elements(v_skipped) with ordinality as e (payload, ord)
    order by e.ord;

    -- Messages of the skipped steps' pending tasks, in one call
    select array_agg(st.message_id order by st.message_id) into v_msg_ids
    from pgflow.step_tasks as st
    where
        st.run_id = _cascade_force_skip_steps.run_id
        and st.step_slug in (select e.payload ->> 'step_slug' from jsonb_array_elements(v_skipped) as e (payload))
        and st.status in ('queued', 'started')
        and st.message_id is not null;

    if v_msg_ids is not null then
        perform pgmq.archive(v_flow_slug, v_msg_ids);
    end if;

    update pgflow.runs as r
    set remaining_steps = r.remaining_steps - v_count
    where r.run_id = _cascade_force_skip_steps.run_id;

    return v_count;
end;
$$;

-- ==== sql/0100_function__compare_flow_shapes.sql ====
-- pgflow._compare_flow_shapes(p_local, p_db): the differences between two flow shapes, as
-- human-readable messages ('{}' when they match). Called by ensure_flow_compiled with the
-- worker's shape first and the stored one second.
-- Order: the step count, then per index i = 0..max-1: a missing step, or else slug, type,
-- dependencies, whenUnmet, whenExhausted, requiredInputPattern, forbiddenInputPattern.
-- Semantics (pgflow's, relied on by its TypeScript mirror): slug/stepType/whenUnmet/whenExhausted
-- compare as text with `!=`, so a key missing on either side is NOT a difference; patterns
-- compare as jsonb with IS DISTINCT FROM, so a missing pattern vs {"defined": false} IS one;
-- dependencies compare as each side's sorted list joined by ', '. Options are never compared
-- (they are runtime-tunable in SQL without recompiling).
-- Locks nothing. Raises nothing.
create or replace function pgflow._compare_flow_shapes(p_local jsonb, p_db jsonb)
returns text[]
language plpgsql
stable
set search_path = ''
as $$
declare
    v_local_steps jsonb := coalesce(_compare_flow_shapes.p_local -> 'steps', '[]'::jsonb);
    v_db_steps jsonb := coalesce(_compare_flow_shapes.p_db -> 'steps', '[]'::jsonb);
    v_local_count int;
    v_db_count int;
    v_local jsonb;
    v_db jsonb;
    v_local_deps text;
    v_db_deps text;
    v_differences text[] := '{}';
begin
    v_local_count := jsonb_array_length(v_local_steps);
    v_db_count := jsonb_array_length(v_db_steps);

    if v_local_count != v_db_count then
        v_differences := v_differences || format('Step count differs: %s vs %s', v_local_count, v_db_count);
    end if;

    for i in 0 .. greatest(v_local_count, v_db_count) - 1 loop
        v_local := v_local_steps -> i;
        v_db := v_db_steps -> i;

        if v_local is null then
            v_differences := v_differences
                || format('Step at index %s: missing in first shape (second has ''%s'')', i, v_db ->> 'slug');
            continue;
        end if;
        if v_db is null then
            v_differences := v_differences
                || format('Step at index %s: missing in second shape (first has ''%s'')', i, v_local ->> 'slug');
            continue;
        end if;

        if v_local ->> 'slug' != v_db ->> 'slug' then
            v_differences := v_differences
                || format('Step at index %s: slug differs ''%s'' vs ''%s''', i, v_local ->> 'slug', v_db ->> 'slug');
        end if;

        if v_local ->> 'stepType' != v_db ->> 'stepType' then
            v_differences := v_differences
                || format(
                    'Step at index %s: type differs ''%s'' vs ''%s''', i, v_local ->> 'stepType', v_db ->> 'stepType'
                );
        end if;

        select coalesce(string_agg(e.dep, ', ' order by e.dep collate "C"), '')
        into v_local_deps
        from jsonb_array_elements_text(coalesce(v_local -> 'dependencies', '[]'::jsonb)) as e (dep);
        select coalesce(string_agg(e.dep, ', ' order by e.dep collate "C"), '')
        into v_db_deps
        from jsonb_array_elements_text(coalesce(v_db -> 'dependencies', '[]'::jsonb)) as e (dep);
        if v_local_deps != v_db_deps then
            v_differences := v_differences
                || format('Step at index %s: dependencies differ [%s] vs [%s]', i, v_local_deps, v_db_deps);
        end if;

        if v_local ->> 'whenUnmet' != v_db ->> 'whenUnmet' then
            v_differences := v_differences
                || format(
                    'Step at index %s: whenUnmet differs ''%s'' vs ''%s''', i, v_local ->> 'whenUnmet', v_db ->> 'whenUnmet'
                );
        end if;

        if v_local ->> 'whenExhausted' != v_db ->> 'whenExhausted' then
            v_differences := v_differences
                || format(
                    'Step at index %s: whenExhausted differs ''%s'' vs ''%s''',
                    i, v_local ->> 'whenExhausted', v_db ->> 'whenExhausted'
                );
        end if;

        if (v_local -> 'requiredInputPattern') is distinct from (v_db -> 'requiredInputPattern') then
            v_differences := v_differences
                || format(
                    'Step at index %s: requiredInputPattern differs ''%s'' vs ''%s''',
                    i, v_local -> 'requiredInputPattern', v_db -> 'requiredInputPattern'
                );
        end if;

        if (v_local -> 'forbiddenInputPattern') is distinct from (v_db -> 'forbiddenInputPattern') then
            v_differences := v_differences
                || format(
                    'Step at index %s: forbiddenInputPattern differs ''%s'' vs ''%s''',
                    i, v_local -> 'forbiddenInputPattern', v_db -> 'forbiddenInputPattern'
                );
        end if;
    end loop;

    return v_differences;
end;
$$;

-- ==== sql/0100_function__create_flow_from_shape.sql ====
-- pgflow._create_flow_from_shape(p_flow_slug, p_shape): defines a flow from a worker's flow
-- shape (see _get_flow_shape), as the compiled DSL would: create_flow with shape.options
-- (maxAttempts, baseDelay, timeout; absent = NULL = create_flow's defaults), then add_step for
-- each element of shape.steps in array order (dependencies, step options maxAttempts/baseDelay/
-- timeout/startDelay, stepType (absent = single), whenUnmet (absent = skip), whenExhausted
-- (absent = fail), and a pattern's value only when it is {"defined": true, ...}).
-- Called by ensure_flow_compiled, under its advisory lock.
-- Locks: what create_flow and add_step lock (the flows row). Raises what they raise.
create or replace function pgflow._create_flow_from_shape(p_flow_slug text, p_shape jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_options jsonb := coalesce(_create_flow_from_shape.p_shape -> 'options', '{}'::jsonb);
    v_step jsonb;
begin
    perform pgflow.create_flow(
        flow_slug => _create_flow_from_shape.p_flow_slug,
        max_attempts => (v_options ->> 'maxAttempts')::int,
        base_delay => (v_options ->> 'baseDelay')::int,
        timeout => (v_options ->> 'timeout')::int
    );

    -- one add_step per step, in order: each step's dependencies must exist before it (FK)
    for v_step in
        select e.step
        from jsonb_array_elements(coalesce(_create_flow_from_shape.p_shape -> 'steps', '[]'::jsonb))
            with ordinality as e (step, ord)
        order by e.ord
    loop
        perform pgflow.add_step(
            flow_slug => _create_flow_from_shape.p_flow_slug,
            step_slug => v_step ->> 'slug',
            deps_slugs => array(
                select d.dep
                from jsonb_array_elements_text(coalesce(v_step -> 'dependencies', '[]'::jsonb))
                    with ordinality as d (dep, ord)
                order by d.ord
            ),
            max_attempts => (v_step -> 'options' ->> 'maxAttempts')::int,
            base_delay => (v_step -> 'options' ->> 'baseDelay')::int,
            timeout => (v_step -> 'options' ->> 'timeout')::int,
            start_delay => (v_step -> 'options' ->> 'startDelay')::int,
            step_type => coalesce(v_step ->> 'stepType', 'single'),
            required_input_pattern => case
                when v_step -> 'requiredInputPattern' -> 'defined' = 'true'::jsonb
                    then v_step -> 'requiredInputPattern' -> 'value'
            end,
            forbidden_input_pattern => case
                when v_step -> 'forbiddenInputPattern' -> 'defined' = 'true'::jsonb
                    then v_step -> 'forbiddenInputPattern' -> 'value'
            end,
            when_unmet => coalesce(v_step ->> 'whenUnmet', 'skip'),
            when_exhausted => coalesce(v_step ->> 'whenExhausted', 'fail')
        );
    end loop;
end;
$$;

-- ==== sql/0100_function__get_flow_shape.sql ====
-- pgflow._get_flow_shape(p_flow_slug): the stored definition of a flow in the JSON shape that
-- workers send to ensure_flow_compiled (the DSL's extractFlowShape), without options:
-- {"steps": [{"slug", "stepType", "dependencies" (sorted), "whenUnmet", "whenExhausted",
-- "requiredInputPattern": {"defined": false} | {"defined": true, "value": <pattern>},
-- "forbiddenInputPattern": ...}, ...]} with steps in step_index order. Unknown flow:
-- {"steps": []}. Called by ensure_flow_compiled.
-- Dependencies sort in byte order (collate "C"), which is the order JavaScript's sort() gives
-- for slugs ([a-zA-Z0-9_] only), so the shape equals the worker's for mixed-case slugs too.
-- Locks nothing. Raises nothing.
create or replace function pgflow._get_flow_shape(p_flow_slug text)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'steps',
        coalesce(
            jsonb_agg(
                jsonb_build_object(
                    'slug', s.step_slug,
                    'stepType', s.step_type,
                    'dependencies', coalesce(
                        (
                            select jsonb_agg(d.dep_slug order by d.dep_slug collate "C")
                            from pgflow.deps as d
                            where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug
                        ),
                        '[]'::jsonb
                    ),
                    'whenUnmet', s.when_unmet,
                    'whenExhausted', s.when_exhausted,
                    'requiredInputPattern', case
                        when s.required_input_pattern is null then '{"defined": false}'::jsonb
                        else jsonb_build_object('defined', true, 'value', s.required_input_pattern)
                    end,
                    'forbiddenInputPattern', case
                        when s.forbidden_input_pattern is null then '{"defined": false}'::jsonb
                        else jsonb_build_object('defined', true, 'value', s.forbidden_input_pattern)
                    end
                )
                order by s.step_index
            ),
            '[]'::jsonb
        )
    )
    from pgflow.steps as s
    where s.flow_slug = _get_flow_shape.p_flow_slug;
$$;

-- ==== sql/0100_function_add_step.sql ====
-- pgflow.add_step(...): appends a step (a DAG node) and its dependencies (edges) to a flow.
-- Called by users, compiled DSL output and _create_flow_from_shape.
-- Steps must be added in topological order: every dependency must already exist (FK).
-- Idempotent: re-adding an existing step returns the existing row untouched (options and
-- deps_count are not updated) and inserts only dependency rows it did not have, as pgflow does;
-- an edge that would close a cycle (a descendant of the step as its dependency) is refused.
-- Locks: the flows row (FOR UPDATE) so that concurrent add_step calls get distinct step_index.
-- Raises: `Adding dependencies [...] to step "<s>" of flow "<f>" would create a cycle`; `Map step "<s>" can have at most one dependency, ...`; constraint violations named in
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
        -- pgflow inserts new edges of an existing step and leaves the row (and deps_count) as it was;
        -- we do the same, but refuse an edge that would close a cycle (a descendant as dependency).
        select array_agg(d.slug order by d.slug) into v_existing_deps
        from unnest(v_deps) as d (slug)
        where d.slug in (
            with recursive descendants (slug) as (
                select dd.step_slug from pgflow.deps as dd
                where dd.flow_slug = add_step.flow_slug and dd.dep_slug = add_step.step_slug
                union
                select dd.step_slug from pgflow.deps as dd
                join descendants as x on dd.dep_slug = x.slug
                where dd.flow_slug = add_step.flow_slug
            )
            select x.slug from descendants as x
        );
        if v_existing_deps is not null then
            raise exception 'Adding dependencies [%] to step "%" of flow "%" would create a cycle',
                array_to_string(v_existing_deps, ', '), add_step.step_slug, add_step.flow_slug
                using hint = 'Steps are added in topological order: a step may only depend on steps added before it.';
        end if;

        insert into pgflow.deps (flow_slug, dep_slug, step_slug)
        select add_step.flow_slug, d.slug, add_step.step_slug
        from unnest(v_deps) as d (slug)
        on conflict on constraint deps_pkey do nothing;
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

-- ==== sql/0100_function_cascade_complete_taskless_steps.sql ====
-- pgflow.cascade_complete_taskless_steps(run_id): completes, in waves, the steps that have nothing
-- to do: status created, remaining_deps = 0 and initial_tasks = 0 (empty root array, empty parent
-- output, map fed by a skipped dependency). Returns the number of steps completed.
-- One statement per wave: the steps become completed (started_at = completed_at = now(),
-- remaining_tasks 0, output [] for maps / NULL for singles) with a step:<slug>:completed broadcast
-- each (step_index order), their dependents lose one remaining dep per completed parent (map
-- dependents get initial_tasks 0), and run.remaining_steps drops by the wave size. Does not
-- complete the run (callers call maybe_complete_run).
-- Called by start_flow, complete_task, fail_task.
-- Locks the run row, then the wave's step_states rows (step_index order), then their dependents.
-- Raises `Cascade loop exceeded safety limit of 50 iterations` on the 51st pass (the final pass
-- that finds nothing counts), so a chain of 49 empty steps completes and a chain of 50 raises.
create or replace function pgflow.cascade_complete_taskless_steps(run_id uuid)
returns int
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_iterations int := 0;
    v_wave int;
    v_total int := 0;
begin
    -- LOCKS: run first, as everywhere else
    perform 1 from pgflow.runs as r where r.run_id = cascade_complete_taskless_steps.run_id for update;

    loop
        v_iterations := v_iterations + 1;
        if v_iterations > 50 then
            raise exception 'Cascade loop exceeded safety limit of 50 iterations';
        end if;

        with wave as (
            select ss.run_id, ss.step_slug
            from pgflow.step_states as ss
            inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
            where
                ss.run_id = cascade_complete_taskless_steps.run_id
                and ss.status = 'created'
                and ss.remaining_deps = 0
                and ss.initial_tasks = 0
            order by s.step_index
            for update of ss
        ),

        completed as (
            update pgflow.step_states as ss
            set
                status = 'completed',
                started_at = now(),
                completed_at = now(),
                remaining_tasks = 0,
                output = case when s.step_type = 'map' then '[]'::jsonb end
            from wave as w, pgflow.steps as s
            where
                ss.run_id = w.run_id
                and ss.step_slug = w.step_slug
                and s.flow_slug = ss.flow_slug
                and s.step_slug = ss.step_slug
            returning
                ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at, ss.completed_at,
                ss.remaining_tasks, ss.remaining_deps, ss.output, s.step_index
        ),

        events as (
            select
                pgflow._emit_event(
                    'step:' || c.step_slug || ':completed',
                    jsonb_build_object(
                        'event_type', 'step:completed',
                        'run_id', c.run_id,
                        'step_slug', c.step_slug,
                        'status', c.status,
                        'started_at', c.started_at,
                        'completed_at', c.completed_at,
                        'remaining_tasks', 0,
                        'remaining_deps', 0,
                        'output', c.output
                    )
                ) as emitted
            from completed as c
            order by c.step_index
        ),

        unblocked as (
            update pgflow.step_states as cs
            set
                remaining_deps = cs.remaining_deps - p.parents_completed,
                initial_tasks = case when cs_step.step_type = 'map' then 0 else cs.initial_tasks end
            from
                (
                    select d.flow_slug, d.step_slug, count(*)::int as parents_completed
                    from pgflow.deps as d
                    inner join completed as c on c.flow_slug = d.flow_slug and c.step_slug = d.dep_slug
                    group by d.flow_slug, d.step_slug
                ) as p,
                pgflow.steps as cs_step
            where
                cs.run_id = cascade_complete_taskless_steps.run_id
                and cs.step_slug = p.step_slug
                and cs_step.flow_slug = p.flow_slug
                and cs_step.step_slug = p.step_slug
            returning 1
        ),

        run_update as (
            update pgflow.runs as r
            set remaining_steps = r.remaining_steps - (select count(*) from completed)
            where
                r.run_id = cascade_complete_taskless_steps.run_id
                and exists (select 1 from completed)
            returning 1
        )

        select count(*)::int into v_wave
        from completed
        cross join (select count(*) as n from events) as e
        cross join (select count(*) as n from unblocked) as u
        cross join (select count(*) as n from run_update) as ru;

        exit when v_wave = 0;
        v_total := v_total + v_wave;
    end loop;

    return v_total;
end;
$$;

-- ==== sql/0100_function_cascade_resolve_conditions.sql ====
-- pgflow.cascade_resolve_conditions(run_id): evaluates the conditions (required_input_pattern /
-- forbidden_input_pattern) of the run's steps that just became ready, and applies when_unmet to
-- those whose condition is not met. Returns true when the run may continue, false when it is
-- failed (already, or by a when_unmet 'fail' step).
-- Candidate: step_state 'created', remaining_deps 0, at least one pattern set. Value evaluated:
-- the run input for a root step (deps_count 0), else {dep_slug: output} of its COMPLETED deps
-- ({} if none). Met <=> (required IS NULL OR value @> required)
--                     AND (forbidden IS NULL OR NOT value @> forbidden).
-- Each pass, in this order:
--   fail:         the unmet 'fail' candidate with the lowest step_index -> step failed, run
--                 failed, `step:<slug>:failed` then `run:failed` (error_message 'Condition not
--                 met'), every queued/started message of the run archived; return false.
--   skip:         all unmet 'skip' candidates skipped in one statement (condition_unmet);
--                 children's remaining_deps -= skipped parents, single-dep map children get
--                 initial_tasks 0; run.remaining_steps -= skipped.
--   skip-cascade: unmet 'skip-cascade' candidates (re-evaluated after the skip pass, so steps it
--                 unblocked count) -> _cascade_force_skip_steps(run, slug, 'condition_unmet').
-- Passes repeat while the skip pass skipped something (its children may now be candidates).
-- Called by start_flow, complete_task and fail_task (which already hold the run lock).
-- LOCKS: the run row (FOR UPDATE), then the step_states rows it updates.
-- Raises: `cascade_resolve_conditions exceeded safety limit of 50 iterations`.
create or replace function pgflow.cascade_resolve_conditions(run_id uuid)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow_slug text;
    v_status text;
    v_input jsonb;
    v_iterations int := 0;
    v_fail_slug text;
    v_skip_slugs text[];
    v_cascade_slugs text[];
    v_cascade_slug text;
    v_failed_at timestamptz;
    v_skipped jsonb;
    v_skipped_count int;
begin
    -- GUARD + LOCKS
    select r.flow_slug, r.status, r.input into v_flow_slug, v_status, v_input
    from pgflow.runs as r
    where r.run_id = cascade_resolve_conditions.run_id
    for update;

    if v_status is null or v_status = 'failed' then
        return false;
    elsif v_status = 'completed' then
        return true;
    end if;

    loop
        v_iterations := v_iterations + 1;
        if v_iterations > 50 then
            raise exception 'cascade_resolve_conditions exceeded safety limit of 50 iterations';
        end if;

        -- Unmet candidates of this pass, by mode, in step_index order
        select
            (array_agg(u.step_slug order by u.step_index) filter (where u.when_unmet = 'fail'))[1],
            coalesce(array_agg(u.step_slug order by u.step_index) filter (where u.when_unmet = 'skip'), '{}')
        into v_fail_slug, v_skip_slugs
        from (
            select ss.step_slug, s.step_index, s.when_unmet
            from pgflow.step_states as ss
            inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
            cross join lateral (
                select case
                    when s.deps_count = 0 then v_input
                    else coalesce(
                        (
                            select jsonb_object_agg(d.dep_slug, ds.output)
                            from pgflow.deps as d
                            inner join pgflow.step_states as ds
                                on ds.run_id = ss.run_id and ds.step_slug = d.dep_slug
                            where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug and ds.status = 'completed'
                        ),
                        '{}'::jsonb
                    )
                end as value
            ) as v
            where
                ss.run_id = cascade_resolve_conditions.run_id
                and ss.status = 'created'
                and ss.remaining_deps = 0
                and (s.required_input_pattern is not null or s.forbidden_input_pattern is not null)
                and not (
                    (s.required_input_pattern is null or v.value @> s.required_input_pattern)
                    and (s.forbidden_input_pattern is null or not v.value @> s.forbidden_input_pattern)
                )
        ) as u;

        -- FAIL PASS: the first unmet 'fail' step fails the run
        if v_fail_slug is not null then
            update pgflow.step_states as ss
            set status = 'failed', failed_at = now(), error_message = 'Condition not met'
            where
                ss.run_id = cascade_resolve_conditions.run_id
                and ss.step_slug = v_fail_slug
                and ss.status = 'created'
            returning ss.failed_at into v_failed_at;

            perform pgflow._emit_event(
                'step:' || v_fail_slug || ':failed',
                jsonb_build_object(
                    'event_type', 'step:failed',
                    'run_id', cascade_resolve_conditions.run_id,
                    'step_slug', v_fail_slug,
                    'status', 'failed',
                    'error_message', 'Condition not met',
                    'failed_at', v_failed_at
                )
            );

            update pgflow.runs as r
            set status = 'failed', failed_at = now()
            where r.run_id = cascade_resolve_conditions.run_id and r.status = 'started'
            returning r.failed_at into v_failed_at;

            if found then
                perform pgflow._emit_event(
                    'run:failed',
                    jsonb_build_object(
                        'event_type', 'run:failed',
                        'run_id', cascade_resolve_conditions.run_id,
                        'flow_slug', v_flow_slug,
                        'status', 'failed',
                        'error_message', 'Condition not met',
                        'failed_at', v_failed_at
                    )
                );
                perform pgflow._archive_run_messages(cascade_resolve_conditions.run_id);
            end if;
            return false;
        end if;

        -- SKIP PASS: one statement skips the wave and unblocks the children. The data-modifying
        -- CTEs (children, run_update) run to completion whether or not the final select reads them.
        with skipped as (
            update pgflow.step_states as ss
            set status = 'skipped', skip_reason = 'condition_unmet', skipped_at = now()
            where
                ss.run_id = cascade_resolve_conditions.run_id
                and ss.step_slug = any(v_skip_slugs)
                and ss.status = 'created'
            returning ss.step_slug, ss.skipped_at
        ),

        child_counts as (
            select d.step_slug, count(*)::int as skipped_parents
            from pgflow.deps as d
            inner join skipped as sk on sk.step_slug = d.dep_slug
            where d.flow_slug = v_flow_slug
            group by d.step_slug
        ),

        children as (
            update pgflow.step_states as cs
            set remaining_deps = cs.remaining_deps - cc.skipped_parents,
                initial_tasks = case
                    when c.step_type = 'map' and c.deps_count = 1 then 0
                    else cs.initial_tasks
                end
            from child_counts as cc
            inner join pgflow.steps as c on c.flow_slug = v_flow_slug and c.step_slug = cc.step_slug
            where cs.run_id = cascade_resolve_conditions.run_id and cs.step_slug = cc.step_slug
            returning cs.step_slug
        ),

        run_update as (
            update pgflow.runs as r
            set remaining_steps = r.remaining_steps - (select count(*) from skipped)
            where r.run_id = cascade_resolve_conditions.run_id and exists (select 1 from skipped)
            returning r.run_id
        )

        select
            coalesce(
                jsonb_agg(
                    jsonb_build_object(
                        'event_type', 'step:skipped',
                        'run_id', cascade_resolve_conditions.run_id,
                        'flow_slug', v_flow_slug,
                        'step_slug', sk.step_slug,
                        'status', 'skipped',
                        'skip_reason', 'condition_unmet',
                        'skipped_at', sk.skipped_at
                    )
                    order by s.step_index
                ),
                '[]'::jsonb
            ),
            count(*)::int
        into v_skipped, v_skipped_count
        from skipped as sk
        inner join pgflow.steps as s on s.flow_slug = v_flow_slug and s.step_slug = sk.step_slug;

        perform pgflow._emit_event('step:' || (e.payload ->> 'step_slug') || ':skipped', e.payload)
        from jsonb_array_elements(v_skipped) with ordinality as e (payload, ord)
        order by e.ord;

        -- SKIP-CASCADE PASS: re-evaluated, so steps unblocked by the skip pass are included
        select coalesce(array_agg(ss.step_slug order by s.step_index), '{}')
        into v_cascade_slugs
        from pgflow.step_states as ss
        inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        cross join lateral (
            select case
                when s.deps_count = 0 then v_input
                else coalesce(
                    (
                        select jsonb_object_agg(d.dep_slug, ds.output)
                        from pgflow.deps as d
                        inner join pgflow.step_states as ds
                            on ds.run_id = ss.run_id and ds.step_slug = d.dep_slug
                        where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug and ds.status = 'completed'
                    ),
                    '{}'::jsonb
                )
            end as value
        ) as v
        where
            ss.run_id = cascade_resolve_conditions.run_id
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and s.when_unmet = 'skip-cascade'
            and (s.required_input_pattern is not null or s.forbidden_input_pattern is not null)
            and not (
                (s.required_input_pattern is null or v.value @> s.required_input_pattern)
                and (s.forbidden_input_pattern is null or not v.value @> s.forbidden_input_pattern)
            );

        foreach v_cascade_slug in array v_cascade_slugs loop
            perform pgflow._cascade_force_skip_steps(
                cascade_resolve_conditions.run_id, v_cascade_slug, 'condition_unmet'
            );
        end loop;

        select r.status into v_status from pgflow.runs as r where r.run_id = cascade_resolve_conditions.run_id;
        if v_status = 'failed' then
            return false;
        elsif v_status = 'completed' then
            return true;
        end if;

        exit when v_skipped_count = 0;
    end loop;

    return true;
end;
$$;

-- ==== sql/0100_function_cleanup_ensure_workers_logs.sql ====
-- pgflow.cleanup_ensure_workers_logs(retention_hours): deletes pg_cron run history older than
-- retention_hours (default 24) from cron.job_run_details; a once-a-second ensure_workers job
-- writes 86,400 rows a day there. Called hourly by the cron job pgflow_cleanup_logs.
-- Returns one row: the number of rows deleted. SECURITY DEFINER: cron.job_run_details belongs
-- to the pg_cron owner.
-- Locks: the deleted rows. Raises `pg_cron is not installed: ...` without the cron schema
-- (plpgsql, so that the schema installs without pg_cron).
create or replace function pgflow.cleanup_ensure_workers_logs(retention_hours integer default 24)
returns table (cron_deleted bigint)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if to_regclass('cron.job_run_details') is null then
        raise exception 'pg_cron is not installed: pgflow.cleanup_ensure_workers_logs() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron)';
    end if;

    return query
    with deleted as (
        delete from cron.job_run_details as d
        where d.end_time < now() - make_interval(hours => cleanup_ensure_workers_logs.retention_hours)
        returning 1
    )

    select count(*) from deleted;
end;
$$;

-- ==== sql/0100_function_complete_task.sql ====
-- pgflow.complete_task(run_id, step_slug, task_index, output): a worker reports a task's result.
-- Returns the task row (empty when the task is unknown).
-- Order of business (spec §8.5):
--   * run failed -> return the row, nothing else (no archive);
--   * step not started (late or duplicate callback) -> archive the task's message, return the row;
--   * type violation: a single step whose output is not a JSON array (or is NULL) while a map
--     child still waits for its length (initial_tasks NULL) fails the whole run at once, whatever
--     the retry settings: run failed (run:failed, no error_message), every message of the run
--     archived, the task failed with the offending output stored, the step failed
--     (step:<slug>:failed with a [TYPE_VIOLATION] message). Checked before the task's own status.
--   * otherwise the task completes only if it is started (compare-and-set); the step's
--     remaining_tasks drops; the last task completes the step with its output (single: the task
--     output; map: task outputs ordered by task_index, written once), dependents lose a
--     remaining dep (a dependent map learns its task count), run.remaining_steps drops,
--     step:<slug>:completed is broadcast before anything it unblocks; then
--     cascade_resolve_conditions -> cascade_complete_taskless_steps (both repeated while the
--     cascade completes steps) -> (archive message) -> start_ready_steps -> maybe_complete_run.
-- A bounded number of statements whatever the DAG width or map size.
-- Called by workers.
-- LOCKS: the run row, then the step_states row (FOR UPDATE), then the task row, then dependents'
-- step_states rows. Every writer of a run takes the run row first, so sibling completions
-- serialize instead of deadlocking.
-- Raises nothing of its own (cascade functions may raise their safety-limit errors).
create or replace function pgflow.complete_task(run_id uuid, step_slug text, task_index int, output jsonb)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
    v_state pgflow.step_states;
    v_step pgflow.steps;
    v_task pgflow.step_tasks;
    v_map_child text;
    v_output_type text;
begin
    -- LOCKS: run, then step state
    select * into v_run
    from pgflow.runs as r
    where r.run_id = complete_task.run_id
    for update;

    if v_run.run_id is null or v_run.status = 'failed' then
        return query
        select * from pgflow.step_tasks as st
        where
            st.run_id = complete_task.run_id
            and st.step_slug = complete_task.step_slug
            and st.task_index = complete_task.task_index;
        return;
    end if;

    select * into v_state
    from pgflow.step_states as ss
    where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
    for update;

    -- GUARD: late or duplicate callback (step completed, failed or skipped): no state change
    if v_state.run_id is null or v_state.status <> 'started' then
        perform pgflow._archive_task_message(complete_task.run_id, complete_task.step_slug, complete_task.task_index);
        return query
        select * from pgflow.step_tasks as st
        where
            st.run_id = complete_task.run_id
            and st.step_slug = complete_task.step_slug
            and st.task_index = complete_task.task_index;
        return;
    end if;

    select * into v_step
    from pgflow.steps as s
    where s.flow_slug = v_state.flow_slug and s.step_slug = v_state.step_slug;

    -- GUARD: type violation (a map child needs an array from this single step)
    if v_step.step_type = 'single' and coalesce(jsonb_typeof(complete_task.output), 'null') <> 'array' then
        select cs.step_slug into v_map_child
        from pgflow.deps as d
        inner join pgflow.steps as cs on cs.flow_slug = d.flow_slug and cs.step_slug = d.step_slug
        inner join pgflow.step_states as css on css.run_id = complete_task.run_id and css.step_slug = cs.step_slug
        where
            d.flow_slug = v_state.flow_slug
            and d.dep_slug = complete_task.step_slug
            and cs.step_type = 'map'
            and css.initial_tasks is null
        order by cs.step_index
        limit 1;

        if v_map_child is not null then
            v_output_type := coalesce(jsonb_typeof(complete_task.output), 'null');

            update pgflow.runs as r
            set status = 'failed', failed_at = now()
            where r.run_id = complete_task.run_id
            returning r.* into v_run;

            perform pgflow._emit_event(
                'run:failed',
                jsonb_build_object(
                    'event_type', 'run:failed',
                    'run_id', v_run.run_id,
                    'flow_slug', v_run.flow_slug,
                    'status', v_run.status,
                    'failed_at', v_run.failed_at
                )
            );

            perform pgflow._archive_run_messages(complete_task.run_id);

            update pgflow.step_tasks as st
            set
                status = 'failed',
                failed_at = now(),
                output = complete_task.output,
                error_message = '[TYPE_VIOLATION] Produced ' || v_output_type || ' instead of array'
            where
                st.run_id = complete_task.run_id
                and st.step_slug = complete_task.step_slug
                and st.task_index = complete_task.task_index;

            update pgflow.step_states as ss
            set
                status = 'failed',
                failed_at = now(),
                error_message = '[TYPE_VIOLATION] Map step ' || v_map_child
                || ' expects array input but dependency ' || complete_task.step_slug
                || ' produced ' || v_output_type
            where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
            returning ss.* into v_state;

            perform pgflow._emit_event(
                'step:' || v_state.step_slug || ':failed',
                jsonb_build_object(
                    'event_type', 'step:failed',
                    'run_id', v_state.run_id,
                    'step_slug', v_state.step_slug,
                    'status', v_state.status,
                    'error_message', v_state.error_message,
                    'failed_at', v_state.failed_at
                )
            );

            perform pgflow._archive_task_message(complete_task.run_id, complete_task.step_slug, complete_task.task_index);

            return query
            select * from pgflow.step_tasks as st
            where
                st.run_id = complete_task.run_id
                and st.step_slug = complete_task.step_slug
                and st.task_index = complete_task.task_index;
            return;
        end if;
    end if;

    -- MAIN: the task (only a started task completes; a queued one is a stale attempt)
    update pgflow.step_tasks as st
    set status = 'completed', completed_at = now(), output = complete_task.output
    where
        st.run_id = complete_task.run_id
        and st.step_slug = complete_task.step_slug
        and st.task_index = complete_task.task_index
        and st.status = 'started'
    returning st.* into v_task;

    if v_task.run_id is null then
        return query
        select * from pgflow.step_tasks as st
        where
            st.run_id = complete_task.run_id
            and st.step_slug = complete_task.step_slug
            and st.task_index = complete_task.task_index;
        return;
    end if;

    -- The step: count down; the last task completes it and writes its output once
    update pgflow.step_states as ss
    set
        remaining_tasks = ss.remaining_tasks - 1,
        status = case when ss.remaining_tasks = 1 then 'completed' else ss.status end,
        completed_at = case when ss.remaining_tasks = 1 then now() end,
        output = case
            when ss.remaining_tasks <> 1 then null
            when v_step.step_type = 'map' then (
                select coalesce(jsonb_agg(t.output order by t.task_index), '[]'::jsonb)
                from pgflow.step_tasks as t
                where
                    t.run_id = complete_task.run_id
                    and t.step_slug = complete_task.step_slug
                    and t.status = 'completed'
            )
            else complete_task.output
        end
    where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
    returning ss.* into v_state;

    if v_state.status = 'completed' then
        perform pgflow._emit_event(
            'step:' || v_state.step_slug || ':completed',
            jsonb_build_object(
                'event_type', 'step:completed',
                'run_id', v_state.run_id,
                'step_slug', v_state.step_slug,
                'status', v_state.status,
                'output', v_state.output,
                'completed_at', v_state.completed_at
            )
        );

        -- Dependents: one dep fewer; a dependent map learns how many tasks it has
        update pgflow.step_states as cs
        set
            remaining_deps = cs.remaining_deps - 1,
            initial_tasks = case
                when cs_step.step_type = 'map' and cs.initial_tasks is null then
                    -- nested CASE: the planner folds constant arms, the array check must come first
                    case when jsonb_typeof(v_state.output) = 'array' then jsonb_array_length(v_state.output) end
                else cs.initial_tasks
            end
        from pgflow.deps as d, pgflow.steps as cs_step
        where
            d.flow_slug = v_state.flow_slug
            and d.dep_slug = v_state.step_slug
            and cs_step.flow_slug = d.flow_slug
            and cs_step.step_slug = d.step_slug
            and cs.run_id = v_state.run_id
            and cs.step_slug = d.step_slug;

        update pgflow.runs as r
        set remaining_steps = r.remaining_steps - 1
        where r.run_id = complete_task.run_id;

        -- Conditions of the steps this unblocked, then steps with nothing to do; repeated so that
        -- steps unblocked by the taskless cascade are evaluated before they start (spec §13
        -- quirk 3: pgflow starts them unevaluated). Each extra pass completes at least one step.
        loop
            if not pgflow.cascade_resolve_conditions(complete_task.run_id) then
                perform pgflow._archive_task_message(
                    complete_task.run_id, complete_task.step_slug, complete_task.task_index
                );
                return query select v_task.*;
                return;
            end if;
            exit when pgflow.cascade_complete_taskless_steps(complete_task.run_id) = 0;
        end loop;
    end if;

    perform pgflow._archive_task_message(complete_task.run_id, complete_task.step_slug, complete_task.task_index);

    perform pgflow.start_ready_steps(complete_task.run_id);
    perform pgflow.maybe_complete_run(complete_task.run_id);

    return query select v_task.*;
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

-- ==== sql/0100_function_delete_flow_and_data.sql ====
-- pgflow.delete_flow_and_data(p_flow_slug): removes a flow completely: its pgmq queue (messages
-- and archive), then its tasks, step states, runs, dependencies, steps and the flow row, in
-- FK-safe order. A flow without a queue, or an unknown flow, is not an error.
-- Called by ensure_flow_compiled to recompile a changed flow, and by operators/tests.
-- Locks: the flows row first (FOR UPDATE, so a concurrent start_flow/add_step waits or fails
-- cleanly), then the deleted rows. Raises nothing of its own.
create or replace function pgflow.delete_flow_and_data(p_flow_slug text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform 1 from pgflow.flows as f where f.flow_slug = delete_flow_and_data.p_flow_slug for update;

    -- pgmq < 1.5.2 raises on a missing queue: drop only a queue that exists
    if exists (select 1 from pgmq.list_queues() as q where q.queue_name = delete_flow_and_data.p_flow_slug) then
        perform pgmq.drop_queue(delete_flow_and_data.p_flow_slug);
    end if;

    delete from pgflow.step_tasks as t where t.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.step_states as ss where ss.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.runs as r where r.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.deps as d where d.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.steps as s where s.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.flows as f where f.flow_slug = delete_flow_and_data.p_flow_slug;
end;
$$;

-- ==== sql/0100_function_ensure_flow_compiled.sql ====
-- pgflow.ensure_flow_compiled(flow_slug, shape, allow_data_loss): makes sure the stored flow
-- matches the worker's flow shape (see _get_flow_shape). Called by every flow worker at start.
-- Returns {"status": ..., "differences": [<messages of _compare_flow_shapes>]}:
--   * compiled   - the flow did not exist; it was created from the shape;
--   * verified   - it exists and matches;
--   * recompiled - it differed and is_local() or allow_data_loss: the flow and ALL its runs
--                  were deleted (delete_flow_and_data) and it was created again from the shape;
--   * mismatch   - it differed, nothing was changed (the worker must refuse to start).
-- Locks: pg_advisory_xact_lock(1, hashtext(flow_slug)) first, so that workers starting at once
-- compile a new flow exactly once (the others wait, then see it and verify). Must stay VOLATILE:
-- each statement after the lock then takes a fresh snapshot (READ COMMITTED) that includes the
-- flow committed by the lock's previous holder.
-- Raises what create_flow/add_step raise for an invalid shape.
create or replace function pgflow.ensure_flow_compiled(
    flow_slug text,
    shape jsonb,
    allow_data_loss boolean default false
)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_differences text[];
begin
    -- LOCKS
    perform pg_catalog.pg_advisory_xact_lock(1, pg_catalog.hashtext(ensure_flow_compiled.flow_slug));

    if not exists (select 1 from pgflow.flows as f where f.flow_slug = ensure_flow_compiled.flow_slug) then
        perform pgflow._create_flow_from_shape(ensure_flow_compiled.flow_slug, ensure_flow_compiled.shape);
        return jsonb_build_object('status', 'compiled', 'differences', '[]'::jsonb);
    end if;

    v_differences := pgflow._compare_flow_shapes(
        ensure_flow_compiled.shape, pgflow._get_flow_shape(ensure_flow_compiled.flow_slug)
    );

    if cardinality(v_differences) = 0 then
        return jsonb_build_object('status', 'verified', 'differences', '[]'::jsonb);
    end if;

    if pgflow.is_local() or coalesce(ensure_flow_compiled.allow_data_loss, false) then
        perform pgflow.delete_flow_and_data(ensure_flow_compiled.flow_slug);
        perform pgflow._create_flow_from_shape(ensure_flow_compiled.flow_slug, ensure_flow_compiled.shape);
        return jsonb_build_object('status', 'recompiled', 'differences', to_jsonb(v_differences));
    end if;

    return jsonb_build_object('status', 'mismatch', 'differences', to_jsonb(v_differences));
end;
$$;

-- ==== sql/0100_function_ensure_workers.sql ====
-- pgflow.ensure_workers(): pings the edge functions in worker_functions over pg_net so that each
-- has a worker running. Called every second by the cron job pgflow_ensure_workers.
--
-- Local (is_local()): every enabled function is pinged at http://kong:8000/functions/v1/<name>
-- with empty headers. Production: credentials come from vault (auth key = the first non-empty
-- of secrets pgflow_auth_secret, supabase_service_role_key; base URL =
-- https://<secret supabase_project_id>.supabase.co/functions/v1), and an enabled function is
-- pinged only when it was not pinged within its debounce and has no alive worker (a workers row
-- with its function_name, not stopped, not deprecated, heartbeat within the debounce). Missing
-- or empty secrets: nothing is pinged and no row is returned.
-- Each ping: net.http_post(url, headers, body '{}'), last_invoked_at = clock_timestamp(), and
-- one output row (function_name, true, request_id).
--
-- Locks: the chosen worker_functions rows (FOR UPDATE SKIP LOCKED, so that overlapping cron
-- runs do not ping a function twice).
-- Raises: `pg_net is not installed: ...` without net.http_post; in production
-- `supabase_vault is not installed: ...` without vault.decrypted_secrets. Written in plpgsql so
-- that the schema installs without pg_net and vault (references bind at first call).
create or replace function pgflow.ensure_workers()
returns table (function_name text, invoked boolean, request_id bigint)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_local boolean := pgflow.is_local();
    v_base_url text;
    v_auth_key text;
    v_headers jsonb;
begin
    -- GUARD: the optional integrations this function needs
    if not exists (
        select 1
        from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        where n.nspname = 'net' and p.proname = 'http_post'
    ) then
        raise exception 'pg_net is not installed: pgflow.ensure_workers() needs net.http_post '
            '(Supabase, or CREATE EXTENSION pg_net)';
    end if;

    -- credentials
    if v_local then
        v_base_url := 'http://kong:8000/functions/v1';
        v_headers := '{}'::jsonb;
    else
        if to_regclass('vault.decrypted_secrets') is null then
            raise exception 'supabase_vault is not installed: pgflow.ensure_workers() needs '
                'vault.decrypted_secrets for its credentials (Supabase, or CREATE EXTENSION supabase_vault)';
        end if;

        select
            coalesce(
                nullif(max(ds.decrypted_secret) filter (where ds.name = 'pgflow_auth_secret'), ''),
                nullif(max(ds.decrypted_secret) filter (where ds.name = 'supabase_service_role_key'), '')
            ),
            'https://'
            || nullif(max(ds.decrypted_secret) filter (where ds.name = 'supabase_project_id'), '')
            || '.supabase.co/functions/v1'
        into v_auth_key, v_base_url
        from vault.decrypted_secrets as ds
        where ds.name in ('pgflow_auth_secret', 'supabase_service_role_key', 'supabase_project_id');

        v_headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_auth_key);
    end if;

    if v_base_url is null or (not v_local and v_auth_key is null) then
        return;
    end if;

    -- MAIN: choose, ping, stamp (one statement; every CTE feeds the final SELECT)
    return query
    with chosen as (
        select wf.function_name
        from pgflow.worker_functions as wf
        where
            wf.enabled
            and (
                v_local
                or (
                    (wf.last_invoked_at is null or wf.last_invoked_at < now() - wf.debounce)
                    and not exists (
                        select 1
                        from pgflow.workers as w
                        where
                            w.function_name = wf.function_name
                            and w.stopped_at is null
                            and w.deprecated_at is null
                            and w.last_heartbeat_at > now() - wf.debounce
                    )
                )
            )
        order by wf.function_name
        for update of wf skip locked
    ),

    pinged as (
        select
            c.function_name,
            net.http_post(
                url => v_base_url || '/' || c.function_name,
                headers => v_headers,
                body => '{}'::jsonb
            ) as request_id
        from chosen as c
    ),

    stamped as (
        update pgflow.worker_functions as wf
        set last_invoked_at = clock_timestamp()
        from pinged as p
        where wf.function_name = p.function_name
        returning wf.function_name, p.request_id
    )

    select s.function_name, true, s.request_id
    from stamped as s
    order by s.function_name;
end;
$$;

-- ==== sql/0100_function_fail_task.sql ====
-- pgflow.fail_task(run_id, step_slug, task_index, error_message): a worker reports that a task's
-- handler failed. Returns the task row as it is afterwards (no row for an unknown task).
--   * Run already failed: a 'started' task is marked failed; the task's message is archived.
--   * Step not 'started' (late or duplicate callback): nothing changes; the message is archived.
--   * Task 'started' with attempts left (attempts_count < COALESCE(step, flow max_attempts)):
--     back to 'queued' (started_at/failed_at NULL, error_message kept), the step's
--     error_message/failed_at cleared, the message hidden for calculate_retry_delay(base_delay,
--     attempts_count) seconds.
--   * Task 'started', attempts exhausted: task failed, then by steps.when_exhausted:
--       fail:         step failed, run failed; `step:<slug>:failed`, `run:failed`; every
--                     queued/started message of the run archived (_archive_run_messages).
--       skip:         step skipped (handler_failed, error_message kept, remaining_tasks NULL),
--                     sibling messages archived, `step:<slug>:skipped`, children unblocked
--                     (remaining_deps -1, single-dep map children initial_tasks 0), then
--                     cascade_resolve_conditions, cascade_complete_taskless_steps,
--                     start_ready_steps, maybe_complete_run.
--       skip-cascade: as skip, but the descendants are skipped (dependency_skipped) by
--                     _cascade_force_skip_steps instead of being unblocked; maybe_complete_run.
--   * Task 'queued' (step started): no state change, but its message vt is still pushed to
--     now + calculate_retry_delay(base_delay, attempts_count) (spec §13 quirk 11).
-- Called by workers. Task-level retries emit no events.
-- LOCKS: the run row, then the step_states row (FOR UPDATE), then the task row (compare-and-set
-- UPDATE where status = 'started'), then the children's step_states rows.
-- Raises nothing of its own.
create or replace function pgflow.fail_task(run_id uuid, step_slug text, task_index int, error_message text)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
    v_step_state pgflow.step_states;
    v_max_attempts int;
    v_base_delay int;
    v_when_exhausted text;
    v_task pgflow.step_tasks;
    v_step_failed_at timestamptz;
    v_step_skipped_at timestamptz;
    v_run_failed_at timestamptz;
    v_msg_ids bigint[];
begin
    -- LOCKS: run, then step state
    select * into v_run
    from pgflow.runs as r
    where r.run_id = fail_task.run_id
    for update;

    if not found then
        return;
    end if;

    -- GUARD: run already failed -> only the task itself (no retry), archive its message
    if v_run.status = 'failed' then
        update pgflow.step_tasks as t
        set status = 'failed', failed_at = now(), error_message = fail_task.error_message
        where
            t.run_id = fail_task.run_id
            and t.step_slug = fail_task.step_slug
            and t.task_index = fail_task.task_index
            and t.status = 'started';

        perform pgflow._archive_task_message(fail_task.run_id, fail_task.step_slug, fail_task.task_index);
        return query
        select t.* from pgflow.step_tasks as t
        where t.run_id = fail_task.run_id and t.step_slug = fail_task.step_slug and t.task_index = fail_task.task_index;
        return;
    end if;

    select * into v_step_state
    from pgflow.step_states as ss
    where ss.run_id = fail_task.run_id and ss.step_slug = fail_task.step_slug
    for update;

    -- GUARD: late callback (step completed, failed or skipped meanwhile): change nothing
    if found and v_step_state.status <> 'started' then
        perform pgflow._archive_task_message(fail_task.run_id, fail_task.step_slug, fail_task.task_index);
        return query
        select t.* from pgflow.step_tasks as t
        where t.run_id = fail_task.run_id and t.step_slug = fail_task.step_slug and t.task_index = fail_task.task_index;
        return;
    end if;

    select
        coalesce(s.opt_max_attempts, f.opt_max_attempts),
        coalesce(s.opt_base_delay, f.opt_base_delay),
        s.when_exhausted
    into v_max_attempts, v_base_delay, v_when_exhausted
    from pgflow.steps as s
    inner join pgflow.flows as f on f.flow_slug = s.flow_slug
    where s.flow_slug = v_run.flow_slug and s.step_slug = fail_task.step_slug;

    -- MAIN: retry or exhaust the task (compare-and-set: only a started task moves)
    update pgflow.step_tasks as t
    set status = case when t.attempts_count < v_max_attempts then 'queued' else 'failed' end,
        started_at = case when t.attempts_count < v_max_attempts then null else t.started_at end,
        failed_at = case when t.attempts_count < v_max_attempts then null else now() end,
        error_message = fail_task.error_message
    where
        t.run_id = fail_task.run_id
        and t.step_slug = fail_task.step_slug
        and t.task_index = fail_task.task_index
        and t.status = 'started'
    returning t.* into v_task;

    if v_task.status = 'queued' then
        update pgflow.step_states as ss
        set error_message = null, failed_at = null
        where ss.run_id = fail_task.run_id and ss.step_slug = fail_task.step_slug;

    elsif v_task.status = 'failed' and v_when_exhausted = 'fail' then
        update pgflow.step_states as ss
        set status = 'failed', failed_at = now(), error_message = fail_task.error_message
        where ss.run_id = fail_task.run_id and ss.step_slug = fail_task.step_slug and ss.status = 'started'
        returning ss.failed_at into v_step_failed_at;

        update pgflow.runs as r
        set status = 'failed', failed_at = now()
        where r.run_id = fail_task.run_id and r.status = 'started'
        returning r.failed_at into v_run_failed_at;

    elsif v_task.status = 'failed' then
        update pgflow.step_states as ss
        set status = 'skipped',
            skip_reason = 'handler_failed',
            skipped_at = now(),
            error_message = fail_task.error_message,
            remaining_tasks = null,
            failed_at = null
        where ss.run_id = fail_task.run_id and ss.step_slug = fail_task.step_slug and ss.status = 'started'
        returning ss.skipped_at into v_step_skipped_at;

        if v_step_skipped_at is not null then
            update pgflow.runs as r
            set remaining_steps = r.remaining_steps - 1
            where r.run_id = fail_task.run_id;
        end if;
    end if;

    -- Exhausted, step failed
    if v_step_failed_at is not null then
        perform pgflow._emit_event(
            'step:' || fail_task.step_slug || ':failed',
            jsonb_build_object(
                'event_type', 'step:failed',
                'run_id', fail_task.run_id,
                'step_slug', fail_task.step_slug,
                'status', 'failed',
                'error_message', fail_task.error_message,
                'failed_at', v_step_failed_at
            )
        );
    end if;

    -- Exhausted, step skipped: siblings' messages, event, then the dependents
    if v_step_skipped_at is not null then
        select array_agg(t.message_id order by t.task_index) into v_msg_ids
        from pgflow.step_tasks as t
        where
            t.run_id = fail_task.run_id
            and t.step_slug = fail_task.step_slug
            and t.status in ('queued', 'started')
            and t.message_id is not null;

        if v_msg_ids is not null then
            perform pgmq.archive(v_run.flow_slug, v_msg_ids);
        end if;

        perform pgflow._emit_event(
            'step:' || fail_task.step_slug || ':skipped',
            jsonb_build_object(
                'event_type', 'step:skipped',
                'run_id', fail_task.run_id,
                'step_slug', fail_task.step_slug,
                'status', 'skipped',
                'skip_reason', 'handler_failed',
                'error_message', fail_task.error_message,
                'skipped_at', v_step_skipped_at
            )
        );

        if v_when_exhausted = 'skip-cascade' then
            perform pgflow._cascade_force_skip_steps(fail_task.run_id, fail_task.step_slug, 'handler_failed');
        else
            update pgflow.step_states as cs
            set remaining_deps = cs.remaining_deps - 1,
                initial_tasks = case
                    when c.step_type = 'map' and c.deps_count = 1 then 0
                    else cs.initial_tasks
                end
            from pgflow.deps as d
            inner join pgflow.steps as c on c.flow_slug = d.flow_slug and c.step_slug = d.step_slug
            where
                d.flow_slug = v_run.flow_slug
                and d.dep_slug = fail_task.step_slug
                and cs.run_id = fail_task.run_id
                and cs.step_slug = d.step_slug;

            -- Conditions, then taskless steps, repeated until no taskless step completes, so that
            -- steps unblocked by the taskless cascade are evaluated before they start (as in
            -- complete_task and start_flow; spec §13 quirk 3). Each extra pass completes a step.
            loop
                if not pgflow.cascade_resolve_conditions(fail_task.run_id) then
                    perform pgflow._archive_task_message(fail_task.run_id, fail_task.step_slug, fail_task.task_index);
                    return query
                    select t.* from pgflow.step_tasks as t
                    where
                        t.run_id = fail_task.run_id
                        and t.step_slug = fail_task.step_slug
                        and t.task_index = fail_task.task_index;
                    return;
                end if;
                exit when pgflow.cascade_complete_taskless_steps(fail_task.run_id) = 0;
            end loop;
            perform pgflow.start_ready_steps(fail_task.run_id);
        end if;

        perform pgflow.maybe_complete_run(fail_task.run_id);
    end if;

    -- Run failed by this call: event, then no message of the run may stay in the queue
    if v_run_failed_at is not null then
        perform pgflow._emit_event(
            'run:failed',
            jsonb_build_object(
                'event_type', 'run:failed',
                'run_id', fail_task.run_id,
                'flow_slug', v_run.flow_slug,
                'status', 'failed',
                'error_message', fail_task.error_message,
                'failed_at', v_run_failed_at
            )
        );
        perform pgflow._archive_run_messages(fail_task.run_id);
    end if;

    -- The task's message: delayed when the task is queued (retry, or a queued task per quirk 11),
    -- archived when the task is failed
    select * into v_task
    from pgflow.step_tasks as t
    where t.run_id = fail_task.run_id and t.step_slug = fail_task.step_slug and t.task_index = fail_task.task_index;

    if v_task.status = 'queued' and v_task.message_id is not null then
        perform pgmq.set_vt(
            v_run.flow_slug,
            v_task.message_id,
            pgflow.calculate_retry_delay(v_base_delay, v_task.attempts_count)
        );
    elsif v_task.status = 'failed' then
        perform pgflow._archive_task_message(fail_task.run_id, fail_task.step_slug, fail_task.task_index);
    end if;

    return query
    select t.* from pgflow.step_tasks as t
    where t.run_id = fail_task.run_id and t.step_slug = fail_task.step_slug and t.task_index = fail_task.task_index;
end;
$$;

-- ==== sql/0100_function_get_run_with_states.sql ====
-- pgflow.get_run_with_states(run_id): a run and all its step states as one JSON document,
-- {"run": <runs row>, "steps": [<step_states rows>, ...]} ("steps" is [] when there are none;
-- ordered by the steps' step_index). NULL for an unknown run.
-- Called by start_flow_with_states and by clients (PostgREST RPC, NOTIFY listeners that got a
-- truncated event). SECURITY DEFINER so that RPC roles need no table privileges.
-- Locks nothing. Raises nothing.
create or replace function pgflow.get_run_with_states(run_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select jsonb_build_object(
        'run', to_jsonb(r),
        'steps', coalesce(
            (
                select jsonb_agg(to_jsonb(ss) order by s.step_index, ss.step_slug)
                from pgflow.step_states as ss
                left join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
                where ss.run_id = r.run_id
            ),
            '[]'::jsonb
        )
    )
    from pgflow.runs as r
    where r.run_id = get_run_with_states.run_id;
$$;

-- ==== sql/0100_function_is_local.sql ====
-- pgflow.is_local(): true when this database is a Supabase CLI local stack.
-- Called by ensure_workers (local: ping every enabled function at http://kong:8000) and
-- ensure_flow_compiled (local: recompile a mismatching flow instead of refusing it).
-- Detection: the GUC app.settings.jwt_secret (read with missing_ok) equals the Supabase CLI's
-- built-in development secret; unset, empty or any other value means "not local".
-- Locks nothing. Raises nothing.
create or replace function pgflow.is_local()
returns boolean
language sql
stable
parallel safe
set search_path = ''
as $$
    select coalesce(current_setting('app.settings.jwt_secret', true), '')
        = 'super-secret-jwt-token-with-at-least-32-characters-long';
$$;

-- ==== sql/0100_function_mark_worker_stopped.sql ====
-- pgflow.mark_worker_stopped(worker_id): records a graceful worker shutdown.
-- Called by a worker on shutdown; ensure_workers then counts that worker as dead.
-- Sets workers.stopped_at = clock_timestamp() (wall-clock time, like heartbeats). An unknown
-- worker_id changes nothing.
-- Locks: that workers row. Raises nothing.
create or replace function pgflow.mark_worker_stopped(worker_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    update pgflow.workers as w
    set stopped_at = clock_timestamp()
    where w.worker_id = mark_worker_stopped.worker_id;
end;
$$;

-- ==== sql/0100_function_maybe_complete_run.sql ====
-- pgflow.maybe_complete_run(run_id): completes a started run whose remaining_steps reached 0.
-- Output = {leaf_slug: step_states.output} over COMPLETED leaf steps (steps nobody depends on);
-- skipped leaves are omitted; NULL when there is no completed leaf. Broadcasts run:completed.
-- Called by start_flow, complete_task, fail_task (after skips).
-- Guard: status = 'started' (pgflow checks "not completed"; a failed run never reaches 0
-- remaining steps because failure does not decrement, so this is equivalent and safer).
-- Locks the run row (compare-and-set update). Raises nothing.
create or replace function pgflow.maybe_complete_run(run_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
begin
    update pgflow.runs as r
    set
        status = 'completed',
        completed_at = now(),
        output = (
            select jsonb_object_agg(ss.step_slug, ss.output)
            from pgflow.step_states as ss
            where
                ss.run_id = r.run_id
                and ss.status = 'completed'
                and not exists (
                    select 1
                    from pgflow.deps as d
                    where d.flow_slug = ss.flow_slug and d.dep_slug = ss.step_slug
                )
        )
    where
        r.run_id = maybe_complete_run.run_id
        and r.remaining_steps = 0
        and r.status = 'started'
    returning r.* into v_run;

    if v_run.run_id is not null then
        perform pgflow._emit_event(
            'run:completed',
            jsonb_build_object(
                'event_type', 'run:completed',
                'run_id', v_run.run_id,
                'flow_slug', v_run.flow_slug,
                'status', v_run.status,
                'output', v_run.output,
                'completed_at', v_run.completed_at
            )
        );
    end if;
end;
$$;

-- ==== sql/0100_function_poll_for_tasks.sql ====
-- pgflow.poll_for_tasks(...): DEPRECATED single-phase polling entry point, kept so that old workers
-- fail loudly instead of with "function does not exist". Emits a NOTICE and returns no rows.
-- Workers use the two-phase protocol: pgmq.read_with_poll(...) then pgflow.start_tasks(...).
-- Locks nothing. Raises nothing.
create or replace function pgflow.poll_for_tasks(
    queue_name text,
    vt integer,
    qty integer,
    max_poll_seconds integer default 5,
    poll_interval_ms integer default 100
)
returns setof pgflow.step_task_record
language plpgsql
volatile
set search_path = ''
as $$
begin
    raise notice 'pgflow.poll_for_tasks is deprecated and returns no tasks: upgrade your worker to '
        'read messages with pgmq.read_with_poll and start them with pgflow.start_tasks';
    return;
end;
$$;

-- ==== sql/0100_function_read_with_poll.sql ====
-- pgflow.read_with_poll(...): thin wrapper over pgmq.read_with_poll with the same parameters and
-- defaults, for callers that only have access to schema pgflow. Current workers call pgmq's
-- function directly (pgflow dropped its own copy in 0.8).
-- plpgsql (bound at call time), so that installing the schema never depends on the exact pgmq
-- signature; pgmq >= 1.5 has the `conditional` parameter.
-- Sleeps between polls: do not call it inside a transaction that holds locks.
-- Locks the returned pgmq.q_<queue> rows (vt update). Raises pgmq's errors (unknown queue).
create or replace function pgflow.read_with_poll(
    queue_name text,
    vt integer,
    qty integer,
    max_poll_seconds integer default 5,
    poll_interval_ms integer default 100,
    conditional jsonb default '{}'
)
returns setof pgmq.message_record
language plpgsql
volatile
set search_path = ''
as $$
begin
    return query
    select m.*
    from pgmq.read_with_poll(
        read_with_poll.queue_name,
        read_with_poll.vt,
        read_with_poll.qty,
        read_with_poll.max_poll_seconds,
        read_with_poll.poll_interval_ms,
        read_with_poll.conditional
    ) as m;
end;
$$;

-- ==== sql/0100_function_requeue_stalled_tasks.sql ====
-- pgflow.requeue_stalled_tasks(): recovers tasks whose worker died. Called every 15 seconds by
-- the cron job pgflow_requeue_stalled_tasks, or by a worker/operator on plain PostgreSQL.
--
-- A task is stalled when it is `started`, not yet permanently stalled, its run and step are
-- still `started`, and started_at < now() - (coalesce(step.opt_timeout, flow.opt_timeout) + 30) s.
-- (pgflow uses the flow timeout only; we use the step's own timeout when it has one, so that a
-- step with a 5 s timeout is recovered after 35 s, not after the flow's 60 + 30 s.)
--   * requeued_count < 3: back to `queued` (started_at and last_worker_id NULL, requeued_count+1,
--     last_requeued_at now()), its message made visible now (set_vt_batch, one call per queue),
--     then one pg_notify('pgflow_tasks', <flow_slug>) per flow to wake workers.
--   * otherwise: permanently_stalled_at now(), message archived, status stays `started`.
-- Run and step states are not touched. Returns the number of tasks requeued.
-- SECURITY DEFINER so that the cron job's role does not need rights on pgmq tables.
--
-- Locks: the stalled step_tasks rows (FOR UPDATE SKIP LOCKED: a task being completed right now,
-- or claimed by an overlapping run of this function, is left for the next run). No run or
-- step_state locks, so no lock-order conflict with complete_task/fail_task.
-- Raises nothing of its own.
create or replace function pgflow.requeue_stalled_tasks()
returns int
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_requeued_count int;
    v_requeued_flows text[];
    v_requeued_msg_ids bigint[];
    v_stalled_flows text[];
    v_stalled_msg_ids bigint[];
    v_queue text;
    v_msg_ids bigint[];
begin
    -- LOCKS + MAIN: claim stalled tasks, then requeue or give up on each, in one statement
    with stalled as (
        select t.run_id, t.step_slug, t.task_index, t.requeued_count
        from pgflow.step_tasks as t
        inner join pgflow.runs as r on r.run_id = t.run_id
        inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
        inner join pgflow.steps as s on s.flow_slug = t.flow_slug and s.step_slug = t.step_slug
        inner join pgflow.flows as f on f.flow_slug = t.flow_slug
        where
            t.status = 'started'
            and t.permanently_stalled_at is null
            and r.status = 'started'
            and ss.status = 'started'
            and t.started_at < now() - make_interval(secs => coalesce(s.opt_timeout, f.opt_timeout) + 30)
        order by t.run_id, t.step_slug, t.task_index
        for update of t skip locked
    ),

    requeued as (
        update pgflow.step_tasks as t
        set
            status = 'queued',
            started_at = null,
            last_worker_id = null,
            requeued_count = t.requeued_count + 1,
            last_requeued_at = now()
        from stalled as st
        where
            t.run_id = st.run_id
            and t.step_slug = st.step_slug
            and t.task_index = st.task_index
            and st.requeued_count < 3
        returning t.flow_slug, t.message_id
    ),

    given_up as (
        update pgflow.step_tasks as t
        set permanently_stalled_at = now()
        from stalled as st
        where
            t.run_id = st.run_id
            and t.step_slug = st.step_slug
            and t.task_index = st.task_index
            and st.requeued_count >= 3
        returning t.flow_slug, t.message_id
    )

    select
        (select count(*) from requeued),
        (select array_agg(rq.flow_slug) from requeued as rq where rq.message_id is not null),
        (select array_agg(rq.message_id) from requeued as rq where rq.message_id is not null),
        (select array_agg(gu.flow_slug) from given_up as gu where gu.message_id is not null),
        (select array_agg(gu.message_id) from given_up as gu where gu.message_id is not null)
    into v_requeued_count, v_requeued_flows, v_requeued_msg_ids, v_stalled_flows, v_stalled_msg_ids;

    -- messages: one call per queue, not per task
    for v_queue, v_msg_ids in
        select u.flow_slug, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_requeued_flows, v_requeued_msg_ids) as u (flow_slug, msg_id)
        group by u.flow_slug
        order by u.flow_slug
    loop
        perform pgflow.set_vt_batch(v_queue, v_msg_ids, array_fill(0, array[cardinality(v_msg_ids)]));
        perform pg_notify('pgflow_tasks', v_queue);
    end loop;

    for v_queue, v_msg_ids in
        select u.flow_slug, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_stalled_flows, v_stalled_msg_ids) as u (flow_slug, msg_id)
        group by u.flow_slug
        order by u.flow_slug
    loop
        perform pgmq.archive(v_queue, v_msg_ids);
    end loop;

    return v_requeued_count;
end;
$$;

-- ==== sql/0100_function_set_vt_batch.sql ====
-- pgflow.set_vt_batch(queue_name, msg_ids, vt_offsets): sets the visibility timeout of several
-- messages of one queue in a single UPDATE, pairing msg_ids[i] with vt_offsets[i]:
-- vt = clock_timestamp() + vt_offsets[i] seconds (read_ct unchanged). Returns the updated rows.
-- Called by start_tasks (vt = timeout + 2 s) and requeue_stalled_tasks (vt = now).
-- Locks the updated pgmq.q_<queue> rows. Raises `msg_ids length (<n>) must equal vt_offsets
-- length (<m>)`; an unknown queue raises 42P01 `relation "pgmq.q_<name>" does not exist`.
-- NULL or empty msg_ids -> empty result.
create or replace function pgflow.set_vt_batch(queue_name text, msg_ids bigint[], vt_offsets integer[])
returns table (
    msg_id bigint,
    read_ct integer,
    enqueued_at timestamptz,
    vt timestamptz,
    message jsonb,
    headers jsonb
)
language plpgsql
volatile
set search_path = ''
as $$
begin
    if set_vt_batch.msg_ids is null or cardinality(set_vt_batch.msg_ids) = 0 then
        return;
    end if;

    if cardinality(set_vt_batch.msg_ids) <> coalesce(cardinality(set_vt_batch.vt_offsets), 0) then
        raise exception 'msg_ids length (%) must equal vt_offsets length (%)',
            cardinality(set_vt_batch.msg_ids), coalesce(cardinality(set_vt_batch.vt_offsets), 0);
    end if;

    return query execute format(
        $sql$
        update pgmq.%I as q
        set vt = clock_timestamp() + make_interval(secs => u.vt_offset)
        from unnest($1, $2) as u (msg_id, vt_offset)
        where q.msg_id = u.msg_id
        returning q.msg_id, q.read_ct::integer, q.enqueued_at, q.vt, q.message, q.headers
        $sql$,
        pgmq.format_table_name(set_vt_batch.queue_name, 'q')
    ) using set_vt_batch.msg_ids, set_vt_batch.vt_offsets;
end;
$$;

-- ==== sql/0100_function_setup_ensure_workers_cron.sql ====
-- pgflow.setup_ensure_workers_cron(cron_interval): (re)schedules the two pg_cron jobs of worker
-- management: pgflow_ensure_workers (every cron_interval, default '1 second', runs
-- `select pgflow.ensure_workers()`) and pgflow_cleanup_logs (hourly, `0 * * * *`, runs
-- `select pgflow.cleanup_ensure_workers_logs()`). Idempotent: existing jobs of those names are
-- unscheduled first, so exactly one job per name remains.
-- Called by operators, and once at install when pg_cron is present (0950_install_cron_jobs).
-- Returns `Scheduled pgflow_ensure_workers (every <interval>, job_id=<id>) and
-- pgflow_cleanup_logs (hourly, job_id=<id>)`. SECURITY DEFINER: jobs belong to the owner.
-- Locks: cron.job rows (via pg_cron). Raises `pg_cron is not installed: ...` without the cron
-- schema (plpgsql, so that the schema installs without pg_cron).
create or replace function pgflow.setup_ensure_workers_cron(cron_interval text default '1 second')
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_ensure_job_id bigint;
    v_cleanup_job_id bigint;
begin
    -- pg_cron's unschedule-by-name takes a `name` (Supabase's too); the pgTAP stand-in's a `text`
    if to_regprocedure('cron.schedule(text,text,text)') is null
        or coalesce(to_regprocedure('cron.unschedule(name)'), to_regprocedure('cron.unschedule(text)')) is null then
        raise exception 'pg_cron is not installed: pgflow.setup_ensure_workers_cron() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron)';
    end if;

    -- pg_cron raises when the job does not exist: that is the normal first-install case
    begin
        perform cron.unschedule('pgflow_ensure_workers');
    exception when others then
        null;
    end;
    begin
        perform cron.unschedule('pgflow_cleanup_logs');
    exception when others then
        null;
    end;

    v_ensure_job_id := cron.schedule(
        'pgflow_ensure_workers', setup_ensure_workers_cron.cron_interval, 'select pgflow.ensure_workers()'
    );
    v_cleanup_job_id := cron.schedule(
        'pgflow_cleanup_logs', '0 * * * *', 'select pgflow.cleanup_ensure_workers_logs()'
    );

    return format(
        'Scheduled pgflow_ensure_workers (every %s, job_id=%s) and pgflow_cleanup_logs (hourly, job_id=%s)',
        setup_ensure_workers_cron.cron_interval, v_ensure_job_id, v_cleanup_job_id
    );
end;
$$;

-- ==== sql/0100_function_setup_requeue_stalled_tasks_cron.sql ====
-- pgflow.setup_requeue_stalled_tasks_cron(cron_interval): (re)schedules the pg_cron job
-- pgflow_requeue_stalled_tasks (every cron_interval, default '15 seconds', runs
-- `select pgflow.requeue_stalled_tasks()`). Idempotent: an existing job of that name is
-- unscheduled first, so exactly one remains.
-- Called by operators, and once at install when pg_cron is present (0950_install_cron_jobs).
-- Returns `Scheduled pgflow_requeue_stalled_tasks (every <interval>, job_id=<id>)`.
-- SECURITY DEFINER: the job belongs to the owner.
-- Locks: cron.job rows (via pg_cron). Raises `pg_cron is not installed: ...` without the cron
-- schema (plpgsql, so that the schema installs without pg_cron).
create or replace function pgflow.setup_requeue_stalled_tasks_cron(cron_interval text default '15 seconds')
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_job_id bigint;
begin
    -- pg_cron's unschedule-by-name takes a `name` (Supabase's too); the pgTAP stand-in's a `text`
    if to_regprocedure('cron.schedule(text,text,text)') is null
        or coalesce(to_regprocedure('cron.unschedule(name)'), to_regprocedure('cron.unschedule(text)')) is null then
        raise exception 'pg_cron is not installed: pgflow.setup_requeue_stalled_tasks_cron() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron)';
    end if;

    -- pg_cron raises when the job does not exist: that is the normal first-install case
    begin
        perform cron.unschedule('pgflow_requeue_stalled_tasks');
    exception when others then
        null;
    end;

    v_job_id := cron.schedule(
        'pgflow_requeue_stalled_tasks', setup_requeue_stalled_tasks_cron.cron_interval,
        'select pgflow.requeue_stalled_tasks()'
    );

    return format(
        'Scheduled pgflow_requeue_stalled_tasks (every %s, job_id=%s)',
        setup_requeue_stalled_tasks_cron.cron_interval, v_job_id
    );
end;
$$;

-- ==== sql/0100_function_start_flow.sql ====
-- pgflow.start_flow(flow_slug, input, run_id): starts a run of a flow; returns the run row (its
-- status may already be completed, e.g. a flow without steps, or failed by a condition).
-- Creates the run (remaining_steps = number of steps) and one step_state per step
-- (remaining_deps = deps_count; initial_tasks 1 for single steps, the input's length for root
-- maps, NULL for dependent maps until their parent completes), broadcasts run:started, then:
-- cascade_resolve_conditions -> (run failed: stop) -> cascade_complete_taskless_steps (both
-- repeated while the cascade completes steps) -> start_ready_steps -> maybe_complete_run.
-- Called by clients and start_flow_with_states.
-- Locks the new run row (insert). Raises `Flow <slug> has root map steps but input is NULL`,
-- `Flow <slug> has root map steps but input is not an array (got <jsonb_typeof>)`; unknown flow
-- violates runs_flow_slug_fkey, NULL input on other flows the NOT NULL of runs.input.
create or replace function pgflow.start_flow(flow_slug text, input jsonb, run_id uuid default null)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
begin
    -- GUARD: a root map step fans out over the input, which must therefore be an array
    if exists (
        select 1
        from pgflow.steps as s
        where s.flow_slug = start_flow.flow_slug and s.step_type = 'map' and s.deps_count = 0
    ) then
        if start_flow.input is null then
            raise exception 'Flow % has root map steps but input is NULL', start_flow.flow_slug;
        end if;
        if jsonb_typeof(start_flow.input) <> 'array' then
            raise exception 'Flow % has root map steps but input is not an array (got %)',
                start_flow.flow_slug, jsonb_typeof(start_flow.input);
        end if;
    end if;

    -- MAIN: the run and its step states
    insert into pgflow.runs (run_id, flow_slug, input, remaining_steps)
    values (
        coalesce(start_flow.run_id, gen_random_uuid()),
        start_flow.flow_slug,
        start_flow.input,
        (select count(*) from pgflow.steps as s where s.flow_slug = start_flow.flow_slug)
    )
    returning * into v_run;

    insert into pgflow.step_states (flow_slug, run_id, step_slug, remaining_deps, initial_tasks)
    select
        s.flow_slug,
        v_run.run_id,
        s.step_slug,
        s.deps_count,
        case
            -- nested CASE: the planner folds constant arms, the array check must come first
            when s.step_type = 'map' and s.deps_count = 0 then
                case when jsonb_typeof(v_run.input) = 'array' then jsonb_array_length(v_run.input) end
            when s.step_type = 'map' then null
            else 1
        end
    from pgflow.steps as s
    where s.flow_slug = v_run.flow_slug
    order by s.step_index;

    perform pgflow._emit_event(
        'run:started',
        jsonb_build_object(
            'event_type', 'run:started',
            'run_id', v_run.run_id,
            'flow_slug', v_run.flow_slug,
            'input', v_run.input,
            'status', v_run.status,
            'remaining_steps', v_run.remaining_steps,
            'started_at', v_run.started_at
        )
    );

    -- Scheduling: conditions, then steps with nothing to do, then real work. Steps unblocked by
    -- the taskless cascade get their conditions evaluated too before anything starts (pgflow
    -- starts them unevaluated, spec §13 quirk 3); each extra pass completes at least one step.
    loop
        if not pgflow.cascade_resolve_conditions(v_run.run_id) then
            return query select * from pgflow.runs as r where r.run_id = v_run.run_id;
            return;
        end if;
        exit when pgflow.cascade_complete_taskless_steps(v_run.run_id) = 0;
    end loop;
    perform pgflow.start_ready_steps(v_run.run_id);
    perform pgflow.maybe_complete_run(v_run.run_id);

    return query select * from pgflow.runs as r where r.run_id = v_run.run_id;
end;
$$;

-- ==== sql/0100_function_start_flow_with_states.sql ====
-- pgflow.start_flow_with_states(flow_slug, input, run_id): start_flow, then the new run with its
-- step states as returned by get_run_with_states. Used by the TypeScript client (PostgREST RPC).
-- SECURITY DEFINER. plpgsql on purpose: the second call needs a snapshot that sees the first
-- call's writes (a single SQL statement would not).
-- Locks and raises what start_flow does.
create or replace function pgflow.start_flow_with_states(flow_slug text, input jsonb, run_id uuid default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_run_id uuid;
begin
    select r.run_id into v_run_id
    from pgflow.start_flow(
        start_flow_with_states.flow_slug, start_flow_with_states.input, start_flow_with_states.run_id
    ) as r;

    return pgflow.get_run_with_states(v_run_id);
end;
$$;

-- ==== sql/0100_function_start_ready_steps.sql ====
-- pgflow.start_ready_steps(run_id): starts every step of a started run that is ready, i.e.
-- status created, remaining_deps = 0 and initial_tasks > 0 (conditions are not evaluated here).
-- For each such step: status started, started_at, remaining_tasks = initial_tasks; one
-- pgmq.send_batch(flow_slug, msgs, coalesce(opt_start_delay, 0)) with one message per task
-- ({"flow_slug","run_id","step_slug","task_index"}, task_index ascending); step_tasks rows inserted
-- set-based, message ids paired with task indexes by position; step:<slug>:started broadcast.
-- Set-based: one statement whatever the number of steps and tasks (10,000-element maps included).
-- Wakes workers with pg_notify('pgflow_tasks', flow_slug) when messages are visible at once.
-- Called by start_flow, complete_task, fail_task.
-- Locks the ready step_states rows (ordered by step_slug); callers already hold the run row.
-- Raises nothing of its own. A failed or completed run is left alone.
create or replace function pgflow.start_ready_steps(run_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow_slug text;
    v_visible_now int;
begin
    -- GUARD: only started runs schedule work
    select r.flow_slug into v_flow_slug
    from pgflow.runs as r
    where r.run_id = start_ready_steps.run_id and r.status = 'started';

    if v_flow_slug is null then
        return;
    end if;

    -- MAIN: one statement: flip the steps, broadcast, send one batch per step, insert the tasks
    with ready as (
        select ss.run_id, ss.step_slug
        from pgflow.step_states as ss
        where
            ss.run_id = start_ready_steps.run_id
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and ss.initial_tasks is not null
            and ss.initial_tasks > 0
        order by ss.step_slug
        for update
    ),

    started as (
        update pgflow.step_states as ss
        set
            status = 'started',
            started_at = now(),
            remaining_tasks = ss.initial_tasks
        from ready as rd
        where ss.run_id = rd.run_id and ss.step_slug = rd.step_slug
        returning
            ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at,
            ss.initial_tasks, ss.remaining_tasks, ss.remaining_deps
    ),

    started_steps as (
        select st.*, s.step_index, coalesce(s.opt_start_delay, 0) as start_delay
        from started as st
        inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
    ),

    events as (
        select
            pgflow._emit_event(
                'step:' || ss.step_slug || ':started',
                jsonb_build_object(
                    'event_type', 'step:started',
                    'run_id', ss.run_id,
                    'step_slug', ss.step_slug,
                    'status', ss.status,
                    'started_at', ss.started_at,
                    'remaining_tasks', ss.remaining_tasks,
                    'remaining_deps', ss.remaining_deps
                )
            ) as emitted
        from started_steps as ss
        order by ss.step_index
    ),

    sent as (
        select
            ss.flow_slug,
            ss.run_id,
            ss.step_slug,
            m.msg_id,
            (row_number() over (partition by ss.step_slug order by m.msg_id) - 1)::int as task_index
        from started_steps as ss
        cross join lateral pgmq.send_batch(
            ss.flow_slug,
            array(
                select
                    jsonb_build_object(
                        'flow_slug', ss.flow_slug,
                        'run_id', ss.run_id,
                        'step_slug', ss.step_slug,
                        'task_index', i.task_index
                    )
                from generate_series(0, ss.initial_tasks - 1) as i (task_index)
                order by i.task_index
            ),
            ss.start_delay::integer
        ) as m (msg_id)
    ),

    inserted as (
        insert into pgflow.step_tasks (flow_slug, run_id, step_slug, task_index, message_id)
        select se.flow_slug, se.run_id, se.step_slug, se.task_index, se.msg_id
        from sent as se
        returning 1
    )

    select (select count(*) from started_steps as ss where ss.start_delay = 0)::int
    into v_visible_now
    from (select count(*) as n from events) as e
    cross join (select count(*) as n from inserted) as i;

    -- Worker wake-up: one notification per call, only for messages visible now
    if v_visible_now > 0 then
        perform pg_notify('pgflow_tasks', v_flow_slug);
    end if;
end;
$$;

-- ==== sql/0100_function_start_tasks.sql ====
-- pgflow.start_tasks(flow_slug, msg_ids, worker_id): second phase of polling. For the messages a
-- worker read from the flow's queue, starts the tasks that may run and returns what their handlers
-- need (one pgflow.step_task_record per started task, ordered by msg_id).
-- Eligible: step_tasks of this flow whose message_id is in msg_ids, status queued, run started and
-- step started. Other ids are ignored silently (no archive, no vt change).
-- Started tasks: attempts_count + 1, started_at now(), last_worker_id = worker_id (FK to
-- pgflow.workers: register the worker first). Their messages become invisible for
-- coalesce(step.opt_timeout, flow.opt_timeout) + 2 seconds (pgflow's intent; its own CTE for this
-- never ran, spec §13 quirk 1) via set_vt_batch, so a slow handler is not re-read mid-flight.
-- Inputs (§6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- Called by workers after pgmq.read_with_poll.
-- Locks the eligible step_tasks rows (ordered by run, step, task index) and their queue messages.
-- Raises nothing of its own (unknown worker_id violates step_tasks_last_worker_id_fkey).
create or replace function pgflow.start_tasks(flow_slug text, msg_ids bigint[], worker_id uuid)
returns setof pgflow.step_task_record
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_msg_ids bigint[];
    v_vt_offsets integer[];
begin
    -- LOCKS: the eligible tasks, in key order (two workers holding the same messages after a vt
    -- expiry lock them in the same order)
    select coalesce(array_agg(e.message_id), '{}') into v_msg_ids
    from (
        select st.message_id
        from pgflow.step_tasks as st
        inner join pgflow.runs as r on r.run_id = st.run_id
        inner join pgflow.step_states as ss on ss.run_id = st.run_id and ss.step_slug = st.step_slug
        where
            st.flow_slug = start_tasks.flow_slug
            and st.message_id = any(start_tasks.msg_ids)
            and st.status = 'queued'
            and r.status = 'started'
            and ss.status = 'started'
        order by st.run_id, st.step_slug, st.task_index
        for update of st
    ) as e;

    -- MAIN: start them (compare-and-set on status queued). Addressed by message id rather than by
    -- a join back to the locked rows: one index probe per id whatever the table statistics say.
    with started as (
        update pgflow.step_tasks as st
        set
            status = 'started',
            attempts_count = st.attempts_count + 1,
            started_at = now(),
            last_worker_id = start_tasks.worker_id
        where
            st.flow_slug = start_tasks.flow_slug
            and st.message_id = any(v_msg_ids)
            and st.status = 'queued'
        returning st.message_id, st.step_slug
    )

    select
        coalesce(array_agg(sd.message_id order by sd.message_id), '{}'),
        coalesce(array_agg(coalesce(s.opt_timeout, f.opt_timeout) + 2 order by sd.message_id), '{}')
    into v_msg_ids, v_vt_offsets
    from started as sd
    inner join pgflow.steps as s on s.flow_slug = start_tasks.flow_slug and s.step_slug = sd.step_slug
    inner join pgflow.flows as f on f.flow_slug = start_tasks.flow_slug;

    if cardinality(v_msg_ids) = 0 then
        return;
    end if;

    -- Visibility: the handler owns the message for the task timeout plus a 2 s margin
    perform 1 from pgflow.set_vt_batch(start_tasks.flow_slug, v_msg_ids, v_vt_offsets) as v;

    return query
    select
        st.flow_slug,
        st.run_id,
        st.step_slug,
        case
            when s.step_type = 'map' and s.deps_count = 0 then r.input -> st.task_index
            when s.step_type = 'map' then (
                select dss.output -> st.task_index
                from pgflow.deps as d
                inner join pgflow.step_states as dss on dss.run_id = st.run_id and dss.step_slug = d.dep_slug
                where d.flow_slug = st.flow_slug and d.step_slug = st.step_slug
                limit 1
            )
            else coalesce(
                (
                    select jsonb_object_agg(d.dep_slug, dss.output)
                    from pgflow.deps as d
                    inner join pgflow.step_states as dss on dss.run_id = st.run_id and dss.step_slug = d.dep_slug
                    where
                        d.flow_slug = st.flow_slug
                        and d.step_slug = st.step_slug
                        and dss.status = 'completed'
                ),
                '{}'::jsonb
            )
        end as input,
        st.message_id as msg_id,
        st.task_index,
        case when s.step_type = 'single' and s.deps_count = 0 then r.input end as flow_input
    from pgflow.step_tasks as st
    inner join pgflow.runs as r on r.run_id = st.run_id
    inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
    where
        st.flow_slug = start_tasks.flow_slug
        and st.message_id = any(v_msg_ids)
        and st.status = 'started'
    order by st.message_id;
end;
$$;

-- ==== sql/0100_function_track_worker_function.sql ====
-- pgflow.track_worker_function(function_name): registers an edge function that ensure_workers
-- keeps alive. Called by a worker when it starts (before ensure_flow_compiled).
-- New function: a row with the table defaults (enabled, 6 s debounce). Known function: only
-- updated_at moves. updated_at uses clock_timestamp() so that it is later than created_at even
-- within one transaction. Never touches last_invoked_at (that belongs to ensure_workers).
-- Locks: the worker_functions row (upsert). Raises nothing of its own.
create or replace function pgflow.track_worker_function(function_name text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    insert into pgflow.worker_functions as wf (function_name, updated_at)
    values (track_worker_function.function_name, clock_timestamp())
    on conflict on constraint worker_functions_pkey
    do update set updated_at = clock_timestamp();
end;
$$;

-- ==== sql/0900_grants.sql ====
-- Privileges: nothing in schema pgflow is reachable by PUBLIC; grant what your roles need.
revoke all on schema pgflow from public;

-- ==== sql/0950_install_cron_jobs.sql ====
-- Install-time scheduling (pgflow does this in its schema and migrations): the stall requeue
-- every 15 seconds and worker management every second. Only where pg_cron (or a stand-in with
-- cron.schedule) is present when the schema is installed; on plain PostgreSQL this does nothing
-- and the jobs can be scheduled later with pgflow.setup_requeue_stalled_tasks_cron() and
-- pgflow.setup_ensure_workers_cron().
-- A job pg_cron refuses (pg_cron before 1.5 takes no `N seconds` intervals) is reported with a
-- NOTICE naming the setup call to run with a cron expression, and the install goes on.
do $$
declare
    v_setup text;
begin
    if to_regprocedure('cron.schedule(text,text,text)') is not null then
        foreach v_setup in array array[
            'select pgflow.setup_requeue_stalled_tasks_cron()',
            'select pgflow.setup_ensure_workers_cron(''1 second'')'
        ] loop
            begin
                execute v_setup;
            exception when others then
                raise notice 'pgflow: % was not scheduled (%): run it again with a schedule this pg_cron accepts',
                    v_setup, sqlerrm;
            end;
        end loop;
    end if;
end;
$$;
