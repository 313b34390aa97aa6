-- Generated from sql/ by scripts/gen_migration.py: edit sql/, then regenerate. Do not edit.

-- ==== sql/0047_function__time_ordered_uuid.sql ====
-- pgflow._time_ordered_uuid(): a new random UUID whose first 48 bits are the current time in
-- milliseconds since the Unix epoch (the layout of RFC 9562's version 7: version nibble 7, variant
-- 10, 74 random bits). The run_id of a run started without one.
-- Why: every index keyed by run_id (runs_pkey, step_states_pkey, step_tasks_pkey,
-- idx_step_states_run_id, idx_step_tasks_flow_run_step) takes a new run's rows, and the new rows
-- of its updates, where the recent runs are; with version 4 UUIDs they land on a random leaf of
-- an index that grows with the history, so every insert touches a page nobody touched lately (a
-- buffer to read, and a full-page image in the WAL after each checkpoint). Measured with 1,000,000
-- finished tasks in the tables (bench/costs.py --history): start_flow wrote 30 kB of WAL instead
-- of 2.2 kB.
-- PL/pgSQL rather than SQL: a SQL function with a SET clause is planned again on every call
-- (about 35 us of start_flow's time), a PL/pgSQL body keeps its plan for the session.
-- Called by start_flow and start_flow_idempotent. Locks nothing; raises nothing.
create or replace function pgflow._time_ordered_uuid()
returns uuid
language plpgsql
volatile
parallel safe
set search_path = ''
as $$
declare
    v_bytes bytea := uuid_send(gen_random_uuid());
begin
    -- bytes 0-5: milliseconds since the epoch; byte 6: version nibble 7 over random bits;
    -- byte 8 keeps gen_random_uuid's variant 10
    v_bytes := overlay(
        v_bytes
        placing substring(int8send((extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
        from 1 for 6
    );
    return encode(set_byte(v_bytes, 6, (get_byte(v_bytes, 6) & 15) | 112), 'hex')::uuid;
end;
$$;

-- ==== sql/0061_alter_runs_run_control.sql ====
-- Run control (beside the contract): pgflow.runs gains
--   * status `cancelled` (pgflow.cancel_run), with its time in cancelled_at; the contract's
--     statuses and constraint names stay (status_is_valid is re-created with one more value);
--   * retry_of_run_id: the run this one retries (pgflow.retry_run), NULL otherwise; set NULL when
--     that run is pruned;
--   * idx_runs_finished: finished runs by the time they finished, for pgflow.prune_runs.
-- A run that never uses these keeps cancelled_at and retry_of_run_id NULL.
alter table pgflow.runs drop constraint status_is_valid;
alter table pgflow.runs add constraint status_is_valid check (
    status in ('started', 'failed', 'completed', 'cancelled')
);
alter table pgflow.runs add column cancelled_at timestamptz;
alter table pgflow.runs add column retry_of_run_id uuid;
alter table pgflow.runs add constraint cancelled_at_is_after_started_at check (
    cancelled_at is null or cancelled_at >= started_at
);
alter table pgflow.runs add constraint cancelled_at_only_when_cancelled check (
    cancelled_at is null or status = 'cancelled'
);
alter table pgflow.runs add constraint runs_retry_of_run_id_fkey foreign key (retry_of_run_id)
references pgflow.runs (run_id) on delete set null;
create index idx_runs_retry_of_run_id on pgflow.runs (retry_of_run_id) where retry_of_run_id is not null;
create index idx_runs_finished on pgflow.runs ((coalesce(completed_at, failed_at, cancelled_at)))
where status <> 'started';

-- ==== sql/0062_alter_step_states_cancelled.sql ====
-- Run control (beside the contract): a step state that pgflow.cancel_run ends (created or
-- started when its run was cancelled) becomes `cancelled`. The contract's statuses and the
-- constraint's name stay; status_is_valid is re-created with one more value.
alter table pgflow.step_states drop constraint status_is_valid;
alter table pgflow.step_states add constraint status_is_valid check (
    status in ('created', 'started', 'completed', 'failed', 'skipped', 'cancelled')
);

-- ==== sql/0063_alter_step_tasks_cancelled.sql ====
-- Run control (beside the contract): a task that pgflow.cancel_run ends (queued or started when
-- its run was cancelled) becomes `cancelled`. The contract's statuses and the constraint's name
-- stay; valid_status is re-created with one more value.
alter table pgflow.step_tasks drop constraint valid_status;
alter table pgflow.step_tasks add constraint valid_status check (
    status in ('queued', 'started', 'completed', 'failed', 'cancelled')
);

-- ==== sql/0064_alter_flows_retry_options.sql ====
-- Retry delays (beside the contract), opt-in per flow, set by pgflow.set_retry_policy:
--   * opt_retry_jitter: a fraction in [0, 1]; a retry's delay d becomes a random value in
--     [d * (1 - jitter), d] (1 = "full jitter"). NULL: no jitter.
--   * opt_max_retry_delay: seconds; the delay is at most this. NULL: no cap.
-- Both NULL (the default): the contract's floor(base_delay * 2^attempts_count), unchanged.
alter table pgflow.flows add column opt_retry_jitter numeric;
alter table pgflow.flows add column opt_max_retry_delay int;
alter table pgflow.flows add constraint opt_retry_jitter_is_a_fraction check (
    opt_retry_jitter is null or (opt_retry_jitter >= 0 and opt_retry_jitter <= 1)
);
alter table pgflow.flows add constraint opt_max_retry_delay_is_nonnegative check (
    opt_max_retry_delay is null or opt_max_retry_delay >= 0
);

-- ==== sql/0065_alter_steps_retry_options.sql ====
-- Retry delays (beside the contract), opt-in per step, set by pgflow.set_retry_policy: a step's
-- opt_retry_jitter / opt_max_retry_delay override its flow's (same meaning as in
-- 0064_alter_flows_retry_options.sql); NULL: the flow's.
alter table pgflow.steps add column opt_retry_jitter numeric;
alter table pgflow.steps add column opt_max_retry_delay int;
alter table pgflow.steps add constraint opt_retry_jitter_is_a_fraction check (
    opt_retry_jitter is null or (opt_retry_jitter >= 0 and opt_retry_jitter <= 1)
);
alter table pgflow.steps add constraint opt_max_retry_delay_is_nonnegative check (
    opt_max_retry_delay is null or opt_max_retry_delay >= 0
);

-- ==== sql/0065_index_runs_by_flow_slug_started_at.sql ====
-- The dashboard's runs list (pgflow ui), one flow: newest first by (started_at, run_id), a page at
-- a time past a keyset cursor, over any number of runs. Read by queries.UI_RUNS_OLDER and
-- UI_RUNS_NEWER. Named runs_by_*, not idx_*: that prefix names the contract's indexes.
create index if not exists runs_by_flow_slug_started_at on pgflow.runs (flow_slug, started_at, run_id);

-- ==== sql/0065_index_runs_by_flow_slug_status_started_at.sql ====
-- The dashboard's runs list (pgflow ui), one flow and one status other than completed: newest first
-- by (started_at, run_id), a page at a time past a keyset cursor. Without it a status that one flow
-- never has (its failed runs, say) walks every run of that status to find none (94 ms on 1,000,000
-- runs). Partial for the reason runs_by_status_started_at is. Read by queries.UI_RUNS_OLDER/NEWER.
-- Named runs_by_*, not idx_*: that prefix names the contract's indexes.
create index if not exists runs_by_flow_slug_status_started_at on pgflow.runs (
    flow_slug, status, started_at, run_id
)
where status <> 'completed';

-- ==== sql/0065_index_runs_by_started_at.sql ====
-- The dashboard's runs list (pgflow ui), any flow and status: newest first by (started_at, run_id),
-- a page at a time past a keyset cursor, over any number of runs. Read by queries.UI_RUNS_OLDER and
-- UI_RUNS_NEWER. Named runs_by_*, not idx_*: that prefix names the contract's indexes.
create index if not exists runs_by_started_at on pgflow.runs (started_at, run_id);

-- ==== sql/0065_index_runs_by_status_started_at.sql ====
-- The dashboard's runs list (pgflow ui), one status other than completed: newest first by
-- (started_at, run_id), a page at a time past a keyset cursor. Partial: completed runs, the bulk,
-- are listed fast through runs_by_started_at (most rows match), and a run that completes leaves
-- this index alone. Read by queries.UI_RUNS_OLDER and UI_RUNS_NEWER. Named runs_by_*, not idx_*:
-- that prefix names the contract's indexes.
create index if not exists runs_by_status_started_at on pgflow.runs (status, started_at, run_id)
where status <> 'completed';

-- ==== sql/0065_tables_schedules.sql ====
-- Schedules: a flow started on a cron expression, in a time zone, by tick_schedules.
-- Written by create_schedule / update_schedule / pause_schedule / resume_schedule /
-- delete_schedule; advanced by tick_schedules, which claims due rows in
-- next_scheduled_start_time order (idx_schedules_due) with FOR UPDATE SKIP LOCKED.
--   * overlap_policy: `allow` starts every due time; `skip` starts nothing (and drops the due
--     time) while a run of this schedule is still `started`.
--   * catchup_policy, after downtime (several due times passed since the last tick): `latest`
--     starts only the most recent one; `all` starts every one no older than catchup_window,
--     oldest first.
--   * next_scheduled_start_time: the next time to start; last_run_id / last_scheduled_for: the
--     last run started and the time it was scheduled for.
-- The flow foreign key is checked at commit, so that ensure_flow_compiled can delete and
-- recreate a changed flow in one transaction; deleting a flow for good while a schedule names it
-- fails (delete the schedule first).
create table pgflow.schedules (
    schedule_slug text not null,
    flow_slug text not null,
    cron text not null,
    timezone text not null default 'UTC',
    input jsonb not null default '{}',
    enabled boolean not null default true,
    overlap_policy text not null default 'allow',
    catchup_policy text not null default 'latest',
    catchup_window interval not null default '1 day',
    next_scheduled_start_time timestamptz not null,
    last_run_id uuid,
    last_scheduled_for timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint schedules_pkey primary key (schedule_slug),
    constraint schedules_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug)
    deferrable initially deferred,
    constraint schedule_slug_is_valid check (pgflow.is_valid_slug(schedule_slug)),
    constraint cron_is_not_blank check (btrim(cron) <> ''),
    constraint input_is_object check (jsonb_typeof(input) = 'object'),
    constraint overlap_policy_is_valid check (overlap_policy in ('allow', 'skip')),
    constraint catchup_policy_is_valid check (catchup_policy in ('latest', 'all')),
    constraint catchup_window_is_positive check (catchup_window > interval '0'),
    constraint last_run_id_and_last_scheduled_for_match check ((last_run_id is null) = (last_scheduled_for is null)),
    constraint updated_at_is_after_created_at check (updated_at >= created_at)
);

create index idx_schedules_due on pgflow.schedules (next_scheduled_start_time) where enabled;
create index idx_schedules_flow_slug on pgflow.schedules (flow_slug);

-- ==== sql/0066_tables_run_control.sql ====
-- Run control tables (beside the contract's; pgflow's own functions never read them).
--
-- run_idempotency_keys: one row per (flow, key) given to pgflow.start_flow_idempotent, naming the
-- run that key started. The key lives as long as its run (deleted with it, e.g. by
-- pgflow.prune_runs). The foreign key to runs is checked at commit, because the key is claimed
-- (inserted) before its run exists: concurrent callers of one key wait on the primary key.
create table pgflow.run_idempotency_keys (
    flow_slug text not null,
    idempotency_key text not null,
    run_id uuid not null,
    created_at timestamptz not null default now(),
    constraint run_idempotency_keys_pkey primary key (flow_slug, idempotency_key),
    constraint run_idempotency_keys_run_id_key unique (run_id),
    constraint run_idempotency_keys_run_id_fkey foreign key (run_id) references pgflow.runs (run_id)
    on delete cascade deferrable initially deferred,
    constraint idempotency_key_is_not_empty check (idempotency_key <> '')
);

-- task_deadlines: a started task's deadline as extended by its handler
-- (pgflow.extend_task_timeout). It holds for the attempt that was started when it was set
-- (extended_at >= step_tasks.started_at); a later attempt ignores it. requeue_stalled_tasks
-- leaves a task alone until 30 s past its deadline; without a row, nothing changes.
create table pgflow.task_deadlines (
    run_id uuid not null,
    step_slug text not null,
    task_index int not null,
    extended_at timestamptz not null default now(),
    deadline_at timestamptz not null,
    constraint task_deadlines_pkey primary key (run_id, step_slug, task_index),
    constraint task_deadlines_task_fkey foreign key (run_id, step_slug, task_index)
    references pgflow.step_tasks (run_id, step_slug, task_index) on delete cascade,
    constraint deadline_at_is_after_extended_at check (deadline_at >= extended_at)
);

-- ==== sql/0066_tables_schedule_runs.sql ====
-- Schedule runs: which run a schedule started for which scheduled time. One row per schedule and
-- time (schedule_runs_pkey): what makes a schedule start each time exactly once, whatever number
-- of sessions tick it. Written by tick_schedules only.
-- A table of its own rather than columns on pgflow.runs, so that the contract's run documents
-- (get_run_with_states, start_flow_with_states: the runs row as JSON) stay exactly as they are.
-- The scheduled time also travels in the run's input (`"scheduled_for"`, see tick_schedules).
-- Deleting the schedule, or the run (delete_flow_and_data), deletes the link.
create table pgflow.schedule_runs (
    schedule_slug text not null,
    scheduled_for timestamptz not null,
    run_id uuid not null,
    created_at timestamptz not null default now(),
    constraint schedule_runs_pkey primary key (schedule_slug, scheduled_for),
    constraint schedule_runs_run_id_key unique (run_id),
    constraint schedule_runs_schedule_slug_fkey foreign key (schedule_slug)
    references pgflow.schedules (schedule_slug) on delete cascade,
    constraint schedule_runs_run_id_fkey foreign key (run_id) references pgflow.runs (run_id) on delete cascade
);

-- ==== sql/0067_alter_runtime_fillfactor.sql ====
-- Storage (beside the contract; no column, constraint or index changes): runs, step_states and
-- step_tasks keep 15% of each heap page free for the new versions of the rows already on it.
-- Why: every run, step state and task is written a few times (status changes), and VACUUM leaves
-- a hole the size of a dead version on each page it cleans. At fillfactor 100 the free-space map
-- sends new rows into those holes, so with a long history each start_flow and each completion
-- lands on a different old page: a buffer to read and an 8 kB full-page image in the WAL after
-- every checkpoint (measured with 1,000,000 finished tasks: one such page per start_flow, ~10 kB of
-- WAL per call instead of ~2 kB; bench/costs.py --history). With pages kept 15% free an insert
-- takes only a page with its size plus the reserve free, which the hole of one dead version is
-- not: new rows go to the table's end, next to the other recent ones, and a row's later versions
-- stay on its own page where there is room.
alter table pgflow.runs set (fillfactor = 85);
alter table pgflow.step_states set (fillfactor = 85);
alter table pgflow.step_tasks set (fillfactor = 85);

-- ==== sql/0067_tables_run_trace_contexts.sql ====
-- The W3C trace context (traceparent) of the code that started a run, for the worker's task spans
-- (OpenTelemetry). Written by the Python client's start_flow in the statement that starts the run
-- (only when a trace context is current or given); read by the worker once per run. Kept out of
-- runs.input, which is the user's. Rows go with their run (on delete cascade).
create table pgflow.run_trace_contexts (
    run_id uuid not null,
    traceparent text not null,
    created_at timestamptz not null default now(),
    constraint run_trace_contexts_pkey primary key (run_id),
    constraint run_trace_contexts_run_id_fkey foreign key (run_id) references pgflow.runs (run_id)
    on delete cascade,
    constraint traceparent_is_w3c check (traceparent ~ '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$')
);

-- ==== sql/0070_function__emit_event.sql ====
-- pgflow._emit_event(event, payload): publishes one run or step transition.
-- Called by every function that changes a run or step status one row at a time, once per
-- transition; the set-based paths call pgflow._emit_events, which does the work (Supabase
-- Realtime when realtime.send exists, NOTIFY on channel `pgflow` always; see there).
-- Locks nothing. Raises nothing of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._emit_event(event text, payload jsonb)
returns void
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
begin
    perform pgflow._emit_events(array[_emit_event.event], array[_emit_event.payload]);
end;
$$;

-- ==== sql/0070_function__emit_events.sql ====
-- pgflow._emit_events(events, payloads): publishes run or step transitions, event i being
-- (events[i], payloads[i]), in array order. One call for a whole batch of transitions (pgflow-py's
-- set-based paths); pgflow._emit_event is the one-event form.
--
-- Two channels:
--   * Supabase Realtime: realtime.send(payload, event, 'pgflow:run:<run_id>', false), only when a
--     function realtime.send(jsonb, text, text, boolean) exists (Supabase, or a stand-in), and only
--     for events of a run (payload with a run_id; `worker:dead` has none and goes out by NOTIFY).
--   * LISTEN/NOTIFY, always: channel `pgflow`, payload = the event payload plus an "event" key.
--     NOTIFY payloads are limited to 8000 bytes, so when the payload is larger its bulky keys
--     (input, output, error_message) are dropped and "truncated": true is added; a listener then
--     reads the full state with pgflow.get_run_with_states(run_id).
-- Returns the number of events. Locks nothing. Raises when the arrays differ in length.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._emit_events(events text [], payloads jsonb [])
returns int
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_item record;
    v_n int;
begin
    -- GUARD: positional arrays of one length
    if coalesce(cardinality(_emit_events.events), 0) <> coalesce(cardinality(_emit_events.payloads), 0) then
        raise exception 'events and payloads must have the same length (%, %)',
            coalesce(cardinality(_emit_events.events), 0), coalesce(cardinality(_emit_events.payloads), 0);
    end if;

    if to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
        for v_item in
            select e.event, e.payload
            from unnest(_emit_events.events, _emit_events.payloads) with ordinality as e (event, payload, ord)
            where e.payload ? 'run_id'
            order by e.ord
        loop
            execute 'select realtime.send($1, $2, $3, false)'
            using v_item.payload, v_item.event, 'pgflow:run:' || (v_item.payload ->> 'run_id');
        end loop;
    end if;

    -- MAIN: one NOTIFY per event, in array order
    select count(
        pg_notify(
            'pgflow',
            case
                when octet_length(n.full_text) <= 7900 then n.full_text
                else (
                    (n.payload - 'input' - 'output' - 'error_message')
                    || jsonb_build_object('event', n.event, 'truncated', true)
                )::text
            end
        )
    )
    into v_n
    from (
        select e.event, e.payload, (e.payload || jsonb_build_object('event', e.event))::text as full_text
        from unnest(_emit_events.events, _emit_events.payloads) with ordinality as e (event, payload, ord)
        order by e.ord
    ) as n;
    return v_n;
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
    select 2;
$$;

-- ==== sql/0090_function__send_batch.sql ====
-- pgflow._send_batch(queue_name, msgs, delay_seconds): sends msgs to the pgmq queue queue_name,
-- visible after delay_seconds; returns their msg_ids in the order of msgs. The same rows
-- pgmq.send_batch(queue_name, msgs, delay_seconds) writes (vt = clock_timestamp() + the delay;
-- read_ct, enqueued_at and the other columns take the queue table's defaults), in one statement:
-- pgmq's path is four nested functions (a SQL wrapper planned on every call, the validation,
-- the insert's own function, the name check) around the same insert, about 70 us of every
-- start_flow and every step start (bench/costs.py). Writing the queue table directly is what
-- pgflow's own set_vt_batch does for visibility; the columns written exist in every pgmq from 1.4
-- on. queue_name is a flow slug (is_valid_slug: letters, digits, underscores), lowercased as pgmq
-- names its tables. An empty or NULL msgs sends nothing and returns no row (pgmq raises there;
-- no caller sends an empty batch).
-- Called by start_ready_steps and _start_ready_steps_of_runs. Locks nothing but the new rows.
-- Raises what the insert raises (an unknown queue: relation pgmq.q_<name> does not exist).
create or replace function pgflow._send_batch(queue_name text, msgs jsonb [], delay_seconds integer)
returns setof bigint
language plpgsql
volatile
set search_path = ''
as $$
begin
    if coalesce(cardinality(_send_batch.msgs), 0) = 0 then
        return;
    end if;
    return query execute format(
        $sql$
        insert into pgmq.%I (vt, message)
        select clock_timestamp() + make_interval(secs => $2), m.message
        from unnest($1) with ordinality as m (message, ord)
        order by m.ord
        returning msg_id
        $sql$,
        'q_' || lower(_send_batch.queue_name)
    ) using _send_batch.msgs, _send_batch.delay_seconds;
end;
$$;

-- ==== sql/0090_function__task_records.sql ====
-- pgflow._task_records(p_flow_slug, msg_ids): what the handlers of started tasks need, for the
-- tasks of the flow whose message_id is in msg_ids and whose status is started: the columns of
-- pgflow.step_task_record plus the task's attempts_count, one row per task, ordered by msg_id.
-- Inputs (spec section 6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- Called by pgflow._start_tasks and pgflow.complete_tasks_and_claim. Locks nothing; raises nothing.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._task_records(p_flow_slug text, msg_ids bigint [])
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
begin
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
        case when s.step_type = 'single' and s.deps_count = 0 then r.input end as flow_input,
        st.attempts_count
    from pgflow.step_tasks as st
    inner join pgflow.runs as r on r.run_id = st.run_id
    inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
    where
        st.flow_slug = _task_records.p_flow_slug
        and st.message_id = any(_task_records.msg_ids)
        and st.status = 'started'
    order by st.message_id;
end;
$$;

-- ==== sql/0095_function__start_one_step.sql ====
-- pgflow._start_one_step(run_id, step_slug): finishes starting one step already flipped to
-- started (status, started_at, remaining_tasks written by the caller in the update that made it
-- ready, or inserted so by start_flow): one message per task ({"flow_slug","run_id","step_slug",
-- "task_index"}, task_index ascending) sent with the step's start delay, its step_tasks rows
-- (queued, paired with the messages by position), step:<slug>:started, and
-- pg_notify('pgflow_tasks', flow_slug) when the messages are visible at once. The same rows and
-- events as _start_ready_steps_of_runs for that one step, in four plain statements with cached
-- plans instead of its one large statement (whose executor start-up costs more than the work
-- for one step: a chain's complete_task and a single-step start_flow measured 10-20% faster).
-- Called by start_flow and complete_task when they start exactly one step.
-- Locks nothing more than the rows it inserts (the caller holds the run and the step state).
-- Raises nothing of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._start_one_step(run_id uuid, step_slug text)
returns void
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_state record;
    v_msg_ids bigint [];
begin
    select
        ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at, ss.initial_tasks, ss.remaining_tasks,
        ss.remaining_deps, coalesce(s.opt_start_delay, 0) as start_delay
    into v_state
    from pgflow.step_states as ss
    inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
    where ss.run_id = _start_one_step.run_id and ss.step_slug = _start_one_step.step_slug;

    perform pgflow._emit_events(
        array['step:' || v_state.step_slug || ':started'],
        array[jsonb_build_object(
            'event_type', 'step:started',
            'run_id', v_state.run_id,
            'step_slug', v_state.step_slug,
            'status', v_state.status,
            'started_at', v_state.started_at,
            'remaining_tasks', v_state.remaining_tasks,
            'remaining_deps', v_state.remaining_deps
        )]
    );

    select array_agg(m.msg_id) into v_msg_ids
    from pgflow._send_batch(
        v_state.flow_slug,
        array(
            select jsonb_build_object(
                'flow_slug', v_state.flow_slug,
                'run_id', v_state.run_id,
                'step_slug', v_state.step_slug,
                'task_index', i.task_index
            )
            from generate_series(0, v_state.initial_tasks - 1) as i (task_index)
            order by i.task_index
        ),
        v_state.start_delay
    ) as m (msg_id);

    insert into pgflow.step_tasks (flow_slug, run_id, step_slug, task_index, message_id)
    select v_state.flow_slug, v_state.run_id, v_state.step_slug, (m.ord - 1)::int, m.msg_id
    from unnest(v_msg_ids) with ordinality as m (msg_id, ord)
    order by m.ord;

    if v_state.initial_tasks >= 1000 then
        perform pgflow._refresh_task_statistics(v_state.initial_tasks);
    end if;

    if v_state.start_delay = 0 then
        perform pg_notify('pgflow_tasks', v_state.flow_slug);
    end if;
end;
$$;

-- ==== sql/0100_function__archive_run_messages.sql ====
-- pgflow._archive_run_messages(run_id): archives the pgmq messages of every queued or started
-- task of a run (all steps) in ONE pgmq.archive(queue, bigint[]) call; returns how many messages
-- were archived.
-- Called wherever a run fails: complete_task (type violation), fail_task,
-- cascade_resolve_conditions. Task rows keep their status: only the messages go, so no worker can
-- pick up work of a failed run.
-- Locks nothing itself (pgmq deletes the queue rows). Raises nothing; unknown run -> 0.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._archive_run_messages(run_id uuid)
returns int
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
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

-- ==== sql/0100_function__check_schedule.sql ====
-- pgflow._check_schedule(schedule_slug, flow_slug, cron, input, timezone, overlap_policy,
-- catchup_policy, catchup_window): raises the first thing wrong with a schedule's settings, with a
-- message that names it, so that create_schedule/update_schedule write nothing invalid and never
-- surface a bare constraint violation. Internal: called by create_schedule and update_schedule.
-- Locks nothing. Raises `invalid schedule slug ...`, `flow "<slug>" does not exist`,
-- `flow "<slug>" has a root map step: ...`, cron_next's errors for the expression or the zone,
-- `schedule input must be a JSON object ...`, `overlap_policy must be ...`,
-- `catchup_policy must be ...`, `catchup_window must be positive ...`.
create or replace function pgflow._check_schedule(
    schedule_slug text,
    flow_slug text,
    cron text,
    input jsonb,
    timezone text,
    overlap_policy text,
    catchup_policy text,
    catchup_window interval
)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
    if not pgflow.is_valid_slug(_check_schedule.schedule_slug) then
        raise exception 'invalid schedule slug %: use letters, digits and underscores, starting with a letter or '
            'an underscore, at most 128 characters', coalesce('"' || _check_schedule.schedule_slug || '"', 'NULL');
    end if;
    if not exists (select 1 from pgflow.flows as f where f.flow_slug = _check_schedule.flow_slug) then
        raise exception 'flow % does not exist', coalesce('"' || _check_schedule.flow_slug || '"', 'NULL');
    end if;
    if exists (
        select 1
        from pgflow.steps as s
        where s.flow_slug = _check_schedule.flow_slug and s.step_type = 'map' and s.deps_count = 0
    ) then
        raise exception 'flow "%" has a root map step: its input must be an array, but a scheduled run''s input is '
            'a JSON object', _check_schedule.flow_slug;
    end if;
    -- the expression and the zone: cron_next raises naming the bad field or zone
    perform pgflow.cron_next(_check_schedule.cron, now(), _check_schedule.timezone);
    if _check_schedule.input is null or jsonb_typeof(_check_schedule.input) <> 'object' then
        raise exception 'schedule input must be a JSON object (got %): each run gets it with a "scheduled_for" key '
            'added', coalesce(jsonb_typeof(_check_schedule.input), 'NULL');
    end if;
    if _check_schedule.overlap_policy is null or _check_schedule.overlap_policy not in ('allow', 'skip') then
        raise exception 'overlap_policy must be ''allow'' or ''skip'' (got %)',
            coalesce('''' || _check_schedule.overlap_policy || '''', 'NULL');
    end if;
    if _check_schedule.catchup_policy is null or _check_schedule.catchup_policy not in ('latest', 'all') then
        raise exception 'catchup_policy must be ''latest'' or ''all'' (got %)',
            coalesce('''' || _check_schedule.catchup_policy || '''', 'NULL');
    end if;
    if _check_schedule.catchup_window is null or _check_schedule.catchup_window <= interval '0' then
        raise exception 'catchup_window must be positive (got %)', coalesce(_check_schedule.catchup_window::text, 'NULL');
    end if;
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
    v_differences text [] := '{}'::text [];
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

-- ==== sql/0100_function__complete_tasks.sql ====
-- pgflow._complete_tasks(run_ids, step_slugs, task_indexes, outputs, claim_worker_id, claim_qty):
-- the batched completion behind pgflow.complete_tasks_count, pgflow.complete_tasks and
-- pgflow.complete_tasks_and_claim (one round trip, one transaction for several task results).
-- Not part of pgflow's API; pgflow.complete_task stays the contract and is what this applies.
-- Item i is (run_ids[i], step_slugs[i], task_indexes[i], outputs[i]). The effect is that of
-- calling pgflow.complete_task for every item, ordered by (run_id, step_slug, task_index), in one
-- transaction. Returns `known`, the number of distinct known tasks among the items (unknown ones:
-- not counted; a task given twice: once), and `claimed`, the message ids of the tasks it handed to
-- claim_worker_id (see Claiming), ascending.
-- One pass classifies the batch's steps (items reach their tasks by primary key, each task once:
-- its first item wins). Two set-based paths cover the common cases, complete_task the rest:
--   * countdown: the items of a started map step of a started run that do not finish the step
--     (fewer started tasks among them than remaining_tasks): one UPDATE of the tasks, the step's
--     remaining_tasks drops by their number. Nothing cascades, starts or finishes, exactly as
--     with complete_task.
--   * finishing: the items that finish their step (their started tasks = remaining_tasks) in a
--     started run of a flow without conditions, unless a single step would hand a non-array to
--     a map child (the type violation is complete_task's): the tasks, the steps (output: the
--     task's, or the map's outputs by task_index), step:<slug>:completed, the dependents'
--     remaining_deps (and a map child's initial_tasks), the runs' remaining_steps, each in one
--     statement for the whole batch; a run whose last steps these are completes in that same
--     update of its row (maybe_complete_run's effect) and gets run:completed after its steps'
--     events. For the runs that go on, as complete_task does per run: the taskless cascade where
--     a step became taskless, the ready steps (_start_ready_steps_of_runs: one pass and one
--     send_batch per flow for all the runs), maybe_complete_run for runs the cascade finished.
--   Messages of the tasks completed by both paths are archived with one
--   pgmq.archive(queue, msg_ids[]) per flow.
--   * every other item (late or duplicate callbacks, flows with conditions, type violations, a
--     failed run): pgflow.complete_task, in (run_id, step_slug, task_index) order.
-- Events of one run keep complete_task's order (step completed, steps started, run completed).
-- Claiming (claim_qty > 0): of the tasks the finishing path creates in the flow whose queue
-- claim_worker_id serves (pgflow.workers.queue_name), steps without start delay, the first
-- claim_qty are handed to that worker at once: inserted started (attempts_count 1, started_at,
-- last_worker_id), their messages sent invisible for the step's timeout + 2 s, as if the worker
-- had read and started them.
-- Called by complete_tasks_count, complete_tasks_and_claim.
-- LOCKS: the items' runs in run_id order (two batches never wait on each other in a cycle), then
-- the set-based paths' step_states rows in (run_id, step_slug) order (one pass), then their tasks and the
-- dependents' step_states; complete_task takes its own locks after that, in its usual order.
-- Raises `run_ids, step_slugs, task_indexes and outputs must have the same length (<a>, <b>, <c>, <d>)`;
-- whatever complete_task raises (then nothing of the batch is applied).
-- Planning: random_page_cost = 1.1 for this call and what it calls. Its statements reach a few
-- rows by key, rows just written and in shared buffers; with the default 4.0 the planner
-- preferred scanning a whole table of a thousand runs (or tasks) to ten index probes (seen with
-- auto_explain in benchmark scenario 2, 1,000 runs: sequential scans of runs and step_tasks in
-- up to eight statements per batch). Tables large enough, or small enough, plan the same either way.
-- Also one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._complete_tasks(
    run_ids uuid [],
    step_slugs text [],
    task_indexes int [],
    outputs jsonb [],
    claim_worker_id uuid,
    claim_qty int,
    out known int,
    out claimed bigint []
)
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set random_page_cost = 1.1
as $$
declare
    v_n int := coalesce(cardinality(_complete_tasks.run_ids), 0);
    v_fast_runs uuid [];
    v_fast_steps text [];
    v_fin_runs uuid [];
    v_fin_steps text [];
    v_done_runs uuid [];
    v_finished_runs uuid [];
    v_started_runs uuid [];
    v_started_steps text [];
    v_run_events text [];
    v_run_payloads jsonb [];
    v_queues text [];
    v_msg_ids bigint [];
    v_item record;
    v_pairs int;
    v_known int;
begin
    -- GUARD: positional arrays of one length
    if v_n <> coalesce(cardinality(_complete_tasks.step_slugs), 0)
        or v_n <> coalesce(cardinality(_complete_tasks.task_indexes), 0)
        or v_n <> coalesce(cardinality(_complete_tasks.outputs), 0) then
        raise exception 'run_ids, step_slugs, task_indexes and outputs must have the same length (%, %, %, %)',
            v_n, coalesce(cardinality(_complete_tasks.step_slugs), 0),
            coalesce(cardinality(_complete_tasks.task_indexes), 0),
            coalesce(cardinality(_complete_tasks.outputs), 0);
    end if;
    claimed := '{}';
    if v_n = 0 then
        known := 0;
        return;
    end if;

    -- LOCKS: every run of the batch, in run_id order
    perform 1
    from pgflow.runs as r
    where r.run_id = any(_complete_tasks.run_ids)
    order by r.run_id
    for update;

    -- The batch's steps, each classified once (a task given twice counts once: its first item):
    --   fast: a started map step of a started run that its started tasks here do not finish;
    --   finishing: the items hold every task the step still waits for (flows without
    --   conditions; not a single step handing a non-array to a map child);
    --   anything else goes to complete_task. Items reach their tasks by primary key.
    with items as (
        select distinct on (u.run_id, u.step_slug, u.task_index)
            u.run_id, u.step_slug, u.task_index, u.output, u.ord
        from unnest(
            _complete_tasks.run_ids, _complete_tasks.step_slugs,
            _complete_tasks.task_indexes, _complete_tasks.outputs
        ) with ordinality as u (run_id, step_slug, task_index, output, ord)
        order by u.run_id, u.step_slug, u.task_index, u.ord
    ),

    per_step as (
        select
            i.run_id,
            i.step_slug,
            count(t.task_index)::int as known,
            count(*) filter (where t.status = 'started')::int as started,
            (array_agg(i.output order by i.ord))[1] as first_output
        from items as i
        left join pgflow.step_tasks as t
            on t.run_id = i.run_id and t.step_slug = i.step_slug and t.task_index = i.task_index
        group by i.run_id, i.step_slug
    )

    select
        coalesce(array_agg(g.run_id) filter (where g.fast), '{}'),
        coalesce(array_agg(g.step_slug) filter (where g.fast), '{}'),
        coalesce(array_agg(g.run_id) filter (where not g.fast), '{}'),
        coalesce(array_agg(g.step_slug) filter (where not g.fast), '{}'),
        (select count(*)::int from per_step),
        (select coalesce(sum(p.known), 0)::int from per_step as p)
    into v_fast_runs, v_fast_steps, v_fin_runs, v_fin_steps, v_pairs, v_known
    from (
        select ss.run_id, ss.step_slug, s.step_type = 'map' and ss.remaining_tasks > p.started as fast
        from per_step as p
        inner join pgflow.step_states as ss on ss.run_id = p.run_id and ss.step_slug = p.step_slug
        inner join pgflow.runs as r on r.run_id = ss.run_id
        inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        where
            r.status = 'started'
            and ss.status = 'started'
            and (
                (s.step_type = 'map' and ss.remaining_tasks > p.started)
                or (
                    ss.remaining_tasks >= 1
                    and ss.remaining_tasks = p.started
                    and not exists (
                        select 1
                        from pgflow.steps as cond
                        where
                            cond.flow_slug = ss.flow_slug
                            and (cond.required_input_pattern is not null or cond.forbidden_input_pattern is not null)
                    )
                    and not (
                        s.step_type = 'single'
                        and exists (
                            select 1
                            from pgflow.deps as d
                            inner join pgflow.steps as cs on cs.flow_slug = d.flow_slug and cs.step_slug = d.step_slug
                            where d.flow_slug = ss.flow_slug and d.dep_slug = ss.step_slug and cs.step_type = 'map'
                        )
                        and coalesce(jsonb_typeof(p.first_output), 'null') <> 'array'
                    )
                )
            )
        order by ss.run_id, ss.step_slug
        for update of ss
    ) as g;

    if cardinality(v_fin_runs) > 0 then
        -- the tasks (the first item of a task given twice wins). Each path sorts its own items:
        -- reusing the classification's de-duplicated items as arrays was measured slower (a
        -- join of two unnests plans worse than this sorted subquery: +15% CPU per task at
        -- batches of 100, the same at 10)
        with items as (
            select distinct on (u.run_id, u.step_slug, u.task_index) u.run_id, u.step_slug, u.task_index, u.output
            from unnest(
                _complete_tasks.run_ids, _complete_tasks.step_slugs,
                _complete_tasks.task_indexes, _complete_tasks.outputs
            ) with ordinality as u (run_id, step_slug, task_index, output, ord)
            inner join unnest(v_fin_runs, v_fin_steps) as f (run_id, step_slug)
                on f.run_id = u.run_id and f.step_slug = u.step_slug
            order by u.run_id, u.step_slug, u.task_index, u.ord
        ),

        done as (
            update pgflow.step_tasks as st
            set status = 'completed', completed_at = now(), output = i.output
            from items as i
            where
                st.run_id = i.run_id
                and st.step_slug = i.step_slug
                and st.task_index = i.task_index
                and st.status = 'started'
            returning st.flow_slug, st.message_id
        )

        select
            coalesce(array_agg(dn.flow_slug) filter (where dn.message_id is not null), '{}'),
            coalesce(array_agg(dn.message_id) filter (where dn.message_id is not null), '{}')
        into v_queues, v_msg_ids
        from done as dn;

        -- the steps, their events, their dependents and their runs; a run whose last steps these
        -- are completes in the same update (maybe_complete_run's effect: nothing is left to
        -- cascade or start), its output being its leaf steps' outputs, old and new
        with completed as (
            update pgflow.step_states as ss
            set
                remaining_tasks = 0,
                status = 'completed',
                completed_at = now(),
                output = case
                    when s.step_type = 'map' then (
                        select coalesce(jsonb_agg(t.output order by t.task_index), '[]'::jsonb)
                        from pgflow.step_tasks as t
                        where t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.status = 'completed'
                    )
                    else (
                        select t.output
                        from pgflow.step_tasks as t
                        where t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.status = 'completed'
                        order by t.task_index
                        limit 1
                    )
                end
            from unnest(v_fin_runs, v_fin_steps) as f (run_id, step_slug), pgflow.steps as s
            where
                ss.run_id = f.run_id
                and ss.step_slug = f.step_slug
                and s.flow_slug = ss.flow_slug
                and s.step_slug = ss.step_slug
            returning ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.output, ss.completed_at, s.step_index
        ),

        events as (
            select
                pgflow._emit_events(
                    array_agg('step:' || c.step_slug || ':completed' order by c.run_id, c.step_index),
                    array_agg(
                        jsonb_build_object(
                            'event_type', 'step:completed',
                            'run_id', c.run_id,
                            'step_slug', c.step_slug,
                            'status', c.status,
                            'output', c.output,
                            'completed_at', c.completed_at
                        )
                        order by c.run_id, c.step_index
                    )
                ) as emitted
            from completed as c
            having count(*) > 0
        ),

        unblocked as (
            -- a dependent that becomes ready here with tasks to run also starts here (status,
            -- started_at, remaining_tasks): one write of its row instead of two;
            -- _start_ready_steps_of_runs sends its messages, inserts its tasks and broadcasts
            -- step:<slug>:started after the taskless cascade, where starting used to happen
            update pgflow.step_states as cs
            set
                remaining_deps = cs.remaining_deps - p.parents,
                initial_tasks = p.initial_tasks,
                status = case when p.starts then 'started' else cs.status end,
                started_at = case when p.starts then now() else cs.started_at end,
                remaining_tasks = case when p.starts then p.initial_tasks else cs.remaining_tasks end
            from (
                select
                    q.run_id,
                    q.step_slug,
                    q.parents,
                    q.initial_tasks,
                    coalesce(q.ready and q.initial_tasks > 0, false) as starts
                from (
                    select
                        pr.run_id,
                        pr.step_slug,
                        pr.parents,
                        ds.status = 'created' and ds.remaining_deps = pr.parents as ready,
                        case
                            when ds_step.step_type = 'map' and ds.initial_tasks is null then
                                -- nested CASE: the planner folds constant arms, the array check
                                -- must come first
                                case when jsonb_typeof(pr.output) = 'array' then jsonb_array_length(pr.output) end
                            else ds.initial_tasks
                        end as initial_tasks
                    from (
                        -- a map has one dependency: its parent's output is the only one
                        select c.run_id, d.step_slug, count(*)::int as parents, (array_agg(c.output))[1] as output
                        from completed as c
                        inner join pgflow.deps as d on d.flow_slug = c.flow_slug and d.dep_slug = c.step_slug
                        group by c.run_id, d.step_slug
                    ) as pr
                    -- the row as this statement found it (no other writer: the run is locked)
                    inner join pgflow.step_states as ds on ds.run_id = pr.run_id and ds.step_slug = pr.step_slug
                    inner join pgflow.steps as ds_step
                        on ds_step.flow_slug = ds.flow_slug and ds_step.step_slug = ds.step_slug
                ) as q
            ) as p
            where cs.run_id = p.run_id and cs.step_slug = p.step_slug
            returning cs.run_id, cs.step_slug, cs.status
        ),

        counted as (
            update pgflow.runs as r
            set
                remaining_steps = r.remaining_steps - c.n,
                status = case when r.remaining_steps = c.n then 'completed' else r.status end,
                completed_at = case when r.remaining_steps = c.n then now() else r.completed_at end,
                output = case
                    when r.remaining_steps = c.n then (
                        -- the statement's snapshot: leaf steps completed before it, plus its own
                        select jsonb_object_agg(l.step_slug, l.output)
                        from (
                            select ss.step_slug, ss.output
                            from pgflow.step_states as ss
                            where ss.run_id = r.run_id and ss.status = 'completed'
                            union all
                            select cl.step_slug, cl.output
                            from completed as cl
                            where cl.run_id = r.run_id
                        ) as l
                        where not exists (
                            select 1
                            from pgflow.deps as d
                            where d.flow_slug = r.flow_slug and d.dep_slug = l.step_slug
                        )
                    )
                    else r.output
                end
            from (select cr.run_id, count(*)::int as n from completed as cr group by cr.run_id) as c
            where r.run_id = c.run_id and r.status = 'started'
            returning r.run_id, r.flow_slug, r.status, r.output, r.completed_at
        )

        select
            coalesce(array_agg(cn.run_id order by cn.run_id) filter (where cn.status = 'started'), '{}'),
            coalesce(array_agg(cn.run_id order by cn.run_id) filter (where cn.status = 'completed'), '{}'),
            array_agg('run:completed'::text order by cn.run_id) filter (where cn.status = 'completed'),
            array_agg(
                jsonb_build_object(
                    'event_type', 'run:completed',
                    'run_id', cn.run_id,
                    'flow_slug', cn.flow_slug,
                    'status', cn.status,
                    'output', cn.output,
                    'completed_at', cn.completed_at
                )
                order by cn.run_id
            ) filter (where cn.status = 'completed'),
            (select coalesce(array_agg(ub.run_id order by ub.run_id, ub.step_slug), '{}') from unblocked as ub where ub.status = 'started'),
            (select coalesce(array_agg(ub.step_slug order by ub.run_id, ub.step_slug), '{}') from unblocked as ub where ub.status = 'started')
        into v_done_runs, v_finished_runs, v_run_events, v_run_payloads, v_started_runs, v_started_steps
        from counted as cn
        cross join (select count(*) as n from events) as e;

        -- one archive call per flow queue
        perform pgmq.archive(q.queue, q.ids)
        from (
            select a.queue, array_agg(a.msg_id order by a.msg_id) as ids
            from unnest(v_queues, v_msg_ids) as a (queue, msg_id)
            group by a.queue
        ) as q;

        -- per run that goes on, as complete_task: taskless cascade where a step became taskless
        -- (no conditions in these flows), then ready steps, all runs in one pass
        if cardinality(v_done_runs) > 0 then
            for v_item in
                select r.run_id
                from pgflow.runs as r
                where
                    r.run_id = any(v_done_runs)
                    and exists (
                        select 1
                        from pgflow.step_states as ss
                        where
                            ss.run_id = r.run_id
                            and ss.status = 'created'
                            and ss.remaining_deps = 0
                            and ss.initial_tasks = 0
                    )
                order by r.run_id
            loop
                perform pgflow.cascade_complete_taskless_steps(v_item.run_id);
            end loop;

            claimed := pgflow._start_ready_steps_of_runs(
                array(
                    select r.run_id
                    from pgflow.runs as r
                    where r.run_id = any(v_done_runs) and r.status = 'started' and r.remaining_steps > 0
                ),
                v_started_runs,
                v_started_steps,
                _complete_tasks.claim_worker_id,
                _complete_tasks.claim_qty
            );

            -- then maybe_complete_run for the runs the cascade finished, in run_id order
            perform pgflow.maybe_complete_run(r.run_id)
            from pgflow.runs as r
            where r.run_id = any(v_done_runs) and r.remaining_steps = 0 and r.status = 'started'
            order by r.run_id;
        end if;

        -- run:completed of the runs that completed with these steps, after their steps' events
        if cardinality(v_finished_runs) > 0 then
            perform pgflow._emit_events(v_run_events, v_run_payloads);
        end if;
    end if;

    -- MAIN, fast path: one statement completes their tasks and counts the steps down
    if cardinality(v_fast_runs) > 0 then
        with items as (
            select distinct on (u.run_id, u.step_slug, u.task_index) u.run_id, u.step_slug, u.task_index, u.output
            from unnest(
                _complete_tasks.run_ids, _complete_tasks.step_slugs,
                _complete_tasks.task_indexes, _complete_tasks.outputs
            ) with ordinality as u (run_id, step_slug, task_index, output, ord)
            inner join unnest(v_fast_runs, v_fast_steps) as f (run_id, step_slug)
                on f.run_id = u.run_id and f.step_slug = u.step_slug
            -- a task given twice: the first item wins, as with two complete_task calls
            order by u.run_id, u.step_slug, u.task_index, u.ord
        ),

        done as (
            update pgflow.step_tasks as st
            set status = 'completed', completed_at = now(), output = i.output
            from items as i
            where
                st.run_id = i.run_id
                and st.step_slug = i.step_slug
                and st.task_index = i.task_index
                and st.status = 'started'
            returning st.flow_slug, st.run_id, st.step_slug, st.message_id
        ),

        counted as (
            update pgflow.step_states as ss
            set remaining_tasks = ss.remaining_tasks - d.n
            from (
                select dn.run_id, dn.step_slug, count(*)::int as n
                from done as dn
                group by dn.run_id, dn.step_slug
            ) as d
            where ss.run_id = d.run_id and ss.step_slug = d.step_slug
            returning 1
        )

        select
            coalesce(array_agg(dq.flow_slug) filter (where dq.message_id is not null), '{}'),
            coalesce(array_agg(dq.message_id) filter (where dq.message_id is not null), '{}')
        into v_queues, v_msg_ids
        from done as dq
        cross join (select count(*) as n from counted) as c;

        -- one archive call per flow queue
        perform pgmq.archive(q.queue, q.ids)
        from (
            select a.queue, array_agg(a.msg_id order by a.msg_id) as ids
            from unnest(v_queues, v_msg_ids) as a (queue, msg_id)
            group by a.queue
        ) as q;
    end if;

    -- MAIN, general path: every other item through complete_task, in key order (none when
    -- every step of the batch took a set-based path)
    if cardinality(v_fast_runs) + cardinality(v_fin_runs) < v_pairs then
        for v_item in
            select u.run_id, u.step_slug, u.task_index, u.output
            from unnest(
                _complete_tasks.run_ids, _complete_tasks.step_slugs,
                _complete_tasks.task_indexes, _complete_tasks.outputs
            ) with ordinality as u (run_id, step_slug, task_index, output, ord)
            where
                (u.run_id, u.step_slug) not in (
                    select f.run_id, f.step_slug from unnest(v_fast_runs, v_fast_steps) as f (run_id, step_slug)
                )
                and (u.run_id, u.step_slug) not in (
                    select f.run_id, f.step_slug from unnest(v_fin_runs, v_fin_steps) as f (run_id, step_slug)
                )
            order by u.run_id, u.step_slug, u.task_index, u.ord
        loop
            perform 1 from pgflow.complete_task(v_item.run_id, v_item.step_slug, v_item.task_index, v_item.output);
        end loop;
    end if;

    known := v_known;
end;
$$;

-- ==== sql/0100_function__cron_field.sql ====
-- pgflow._cron_field(cron, field_name, field, lo, hi, names): the sorted, distinct values one field
-- of a 5-field cron expression stands for. Internal: called by _cron_parse only.
-- A field is a comma-separated list of elements; an element is `*`, a value, a range `a-b`, each
-- optionally followed by a step `/n`; `a/n` means `a-hi/n` (`a-6/n` for day-of-week). Values are numbers or, where `names`
-- is given, names (case-insensitive; names[1] stands for lo). A range whose start is after its end
-- wraps around (`fri-mon`, `50-10`), as croniter reads it.
-- Locks nothing. Raises `invalid cron expression "<cron>": <field_name> field "<field>": <why>`
-- for an empty element, an unknown name, a value out of lo-hi or a zero step.
create or replace function pgflow._cron_field(
    cron text,
    field_name text,
    field text,
    lo int,
    hi int,
    names text[] default null
)
returns int[]
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_element text;
    v_parts text[];
    v_range text;
    v_step int;
    v_start int;
    v_end int;
    v_values int[] := '{}'::int[];
    v_token text;
    v_bound int;
    v_error text := format(
        'invalid cron expression "%s": %s field "%s"', _cron_field.cron, _cron_field.field_name, _cron_field.field
    );
begin
    foreach v_element in array string_to_array(_cron_field.field, ',') loop
        v_parts := regexp_match(v_element, '^([^/]+)(?:/([0-9]+))?$');
        if v_parts is null then
            raise exception '%: "%" is not a value, a range or a step', v_error, v_element;
        end if;
        v_range := v_parts[1];
        v_step := coalesce(v_parts[2]::int, 1);
        if v_step = 0 then
            raise exception '%: a step must be at least 1', v_error;
        end if;

        if v_range = '*' then
            v_start := _cron_field.lo;
            v_end := _cron_field.hi;
        else
            -- each bound: a number or a name
            v_start := null;
            v_end := null;
            foreach v_token in array string_to_array(v_range, '-') loop
                if v_token ~ '^[0-9]{1,4}$' then
                    v_bound := v_token::int;
                elsif _cron_field.names is not null and lower(v_token) = any(_cron_field.names) then
                    v_bound := _cron_field.lo - 1 + array_position(_cron_field.names, lower(v_token));
                else
                    raise exception '%: "%" is not a number%', v_error, v_token,
                        case when _cron_field.names is not null then ' or a name' else '' end;
                end if;
                if v_bound < _cron_field.lo or v_bound > _cron_field.hi then
                    raise exception '%: % is out of range %-%', v_error, v_bound, _cron_field.lo, _cron_field.hi;
                end if;
                if v_start is null then
                    v_start := v_bound;
                elsif v_end is null then
                    v_end := v_bound;
                else
                    raise exception '%: "%" has more than two bounds', v_error, v_range;
                end if;
            end loop;
            if v_start is null then
                raise exception '%: an element is empty', v_error;
            end if;
            -- `a/n` runs to the field's maximum (6 for day-of-week, where 7 is a second Sunday, as
            -- croniter reads it); a single value is a range of one
            v_end := coalesce(v_end, case
                when v_parts[2] is null then v_start
                when _cron_field.field_name = 'day-of-week' then least(_cron_field.hi, 6)
                else _cron_field.hi
            end);
        end if;

        if v_start <= v_end then
            v_values := v_values || array(select g from generate_series(v_start, v_end, v_step) as g);
        else
            -- a wrapping range walks past hi back to lo
            v_values := v_values || array(
                select _cron_field.lo + (g - _cron_field.lo) % (_cron_field.hi - _cron_field.lo + 1)
                from generate_series(v_start, v_end + _cron_field.hi - _cron_field.lo + 1, v_step) as g
            );
        end if;
    end loop;

    return array(select distinct v from unnest(v_values) as v order by v);
end;
$$;

-- ==== sql/0100_function__cron_next_wall.sql ====
-- pgflow._cron_next_wall(after, minutes, hours, days, months, weekdays, day_or): the first
-- wall-clock minute strictly after `after` (a local time, no zone) whose fields match the value
-- sets of _cron_parse; NULL when none comes within 50 years (e.g. `0 0 30 2 *`).
-- Internal: called by cron_next, which maps wall-clock times to instants in a time zone.
-- Skips whole months, days and hours that cannot match, and jumps to the next matching hour and
-- minute, so even a yearly expression takes a few dozen iterations, not one per minute.
-- Locks nothing. Raises nothing.
create or replace function pgflow._cron_next_wall(
    after timestamp,
    minutes int[],
    hours int[],
    days int[],
    months int[],
    weekdays int[],
    day_or boolean
)
returns timestamp
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_at timestamp := date_trunc('minute', _cron_next_wall.after) + interval '1 minute';
    v_limit timestamp := _cron_next_wall.after + interval '50 years';
    v_next int;
    v_dom_ok boolean;
    v_dow_ok boolean;
begin
    while v_at <= v_limit loop
        -- month: jump to the first day of the next matching month
        if not extract(month from v_at)::int = any(_cron_next_wall.months) then
            v_next := (select min(m) from unnest(_cron_next_wall.months) as m where m > extract(month from v_at));
            v_at := case
                when v_next is null then make_timestamp(
                    extract(year from v_at)::int + 1, _cron_next_wall.months[1], 1, 0, 0, 0
                )
                else make_timestamp(extract(year from v_at)::int, v_next, 1, 0, 0, 0)
            end;
            continue;
        end if;

        -- day: day-of-month and day-of-week, OR-ed or AND-ed (see _cron_parse)
        v_dom_ok := extract(day from v_at)::int = any(_cron_next_wall.days);
        v_dow_ok := extract(dow from v_at)::int = any(_cron_next_wall.weekdays);
        if not (case when _cron_next_wall.day_or then v_dom_ok or v_dow_ok else v_dom_ok and v_dow_ok end) then
            v_at := date_trunc('day', v_at) + interval '1 day';
            continue;
        end if;

        -- hour: the next matching hour of this day, else the next day
        if not extract(hour from v_at)::int = any(_cron_next_wall.hours) then
            v_next := (select min(h) from unnest(_cron_next_wall.hours) as h where h > extract(hour from v_at));
            v_at := date_trunc('day', v_at) + coalesce(make_interval(hours => v_next), interval '1 day');
            continue;
        end if;

        -- minute: the next matching minute of this hour, else the next hour
        if not extract(minute from v_at)::int = any(_cron_next_wall.minutes) then
            v_next := (select min(m) from unnest(_cron_next_wall.minutes) as m where m > extract(minute from v_at));
            v_at := date_trunc('hour', v_at) + coalesce(make_interval(mins => v_next), interval '1 hour');
            continue;
        end if;

        return v_at;
    end loop;
    return null;
end;
$$;

-- ==== sql/0100_function__cron_parse.sql ====
-- pgflow._cron_parse(cron): a 5-field cron expression (minute hour day-of-month month
-- day-of-week) or a macro, as sorted value sets plus the day rule. Internal: called by cron_next.
-- Macros: @yearly and @annually (`0 0 1 1 *`), @monthly (`0 0 1 * *`), @weekly (`0 0 * * 0`),
-- @daily and @midnight (`0 0 * * *`), @hourly (`0 * * * *`). Fields: see _cron_field; months and
-- days of the week take English names (jan-dec, sun-sat); day of week 7 is Sunday, like 0; `?`
-- in a day field means `*`.
-- The day rule (Vixie cron's, as croniter applies it): when both day fields are restricted, a day
-- matches if EITHER matches (day_or); otherwise both must. A day field is unrestricted when it is
-- `*` or `?`, or when it lists every value and the other day field's text contains a `*`.
-- Locks nothing. Raises `invalid cron expression "<cron>": ...` naming the bad field, or saying
-- how many fields were given; L, W and # (and seconds or years fields) are not supported.
create or replace function pgflow._cron_parse(
    cron text,
    out minutes int[],
    out hours int[],
    out days int[],
    out months int[],
    out weekdays int[],
    out day_or boolean
)
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_expr text := lower(btrim(_cron_parse.cron));
    v_fields text[];
    v_dom_star boolean;
    v_dow_star boolean;
begin
    if _cron_parse.cron is null then
        raise exception 'invalid cron expression: it is NULL';
    end if;
    v_expr := case v_expr
        when '@yearly' then '0 0 1 1 *'
        when '@annually' then '0 0 1 1 *'
        when '@monthly' then '0 0 1 * *'
        when '@weekly' then '0 0 * * 0'
        when '@daily' then '0 0 * * *'
        when '@midnight' then '0 0 * * *'
        when '@hourly' then '0 * * * *'
        else v_expr
    end;
    if v_expr like '@%' then
        raise exception 'invalid cron expression "%": unknown macro (use @yearly, @annually, @monthly, @weekly, '
            '@daily, @midnight or @hourly)', _cron_parse.cron;
    end if;
    v_fields := regexp_split_to_array(v_expr, '\s+');
    if v_expr = '' or cardinality(v_fields) <> 5 then
        raise exception 'invalid cron expression "%": expected 5 fields (minute hour day-of-month month '
            'day-of-week), got %', _cron_parse.cron, case when v_expr = '' then 0 else cardinality(v_fields) end;
    end if;
    if v_fields[1] ~ '[?]' or v_fields[2] ~ '[?]' or v_fields[4] ~ '[?]' then
        raise exception 'invalid cron expression "%": "?" is only allowed in the day-of-month and day-of-week '
            'fields', _cron_parse.cron;
    end if;
    v_fields[3] := case when v_fields[3] = '?' then '*' else v_fields[3] end;
    v_fields[5] := case when v_fields[5] = '?' then '*' else v_fields[5] end;

    minutes := pgflow._cron_field(_cron_parse.cron, 'minute', v_fields[1], 0, 59);
    hours := pgflow._cron_field(_cron_parse.cron, 'hour', v_fields[2], 0, 23);
    days := pgflow._cron_field(_cron_parse.cron, 'day-of-month', v_fields[3], 1, 31);
    months := pgflow._cron_field(
        _cron_parse.cron, 'month', v_fields[4], 1, 12,
        array['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
    );
    weekdays := pgflow._cron_field(
        _cron_parse.cron, 'day-of-week', v_fields[5], 0, 7, array['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
    );
    -- 7 is Sunday too
    weekdays := array(select distinct w % 7 from unnest(weekdays) as w order by 1);

    v_dom_star := v_fields[3] = '*' or (cardinality(days) = 31 and strpos(v_fields[5], '*') > 0);
    v_dow_star := v_fields[5] = '*' or (cardinality(weekdays) = 7 and strpos(v_fields[3], '*') > 0);
    day_or := not v_dom_star and not v_dow_star;
end;
$$;

-- ==== sql/0100_function__cron_wall_to_instant.sql ====
-- pgflow._cron_wall_to_instant(wall, timezone, after): the instant at which the wall-clock time
-- `wall` occurs in `timezone`, as croniter maps it. Internal: called by cron_next.
--   * a time that occurs once: that instant (wall_exists);
--   * a time that occurs twice (the repeated hour of a fall-back day): the earlier occurrence if
--     it is after `after`, else the later one (wall_exists);
--   * a time that does not occur (skipped by a spring-forward change): the first wall-clock
--     minute after it that does, i.e. the instant of the change (wall_exists = false).
-- Offsets are compared 6 hours either side, which covers every daylight-saving change in tzdata.
-- Locks nothing. Raises nothing (the zone is checked by cron_next).
create or replace function pgflow._cron_wall_to_instant(
    wall timestamp,
    timezone text,
    after timestamptz,
    out instant timestamptz,
    out wall_exists boolean
)
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_wall timestamp := _cron_wall_to_instant.wall;
    v_instant timestamptz := _cron_wall_to_instant.wall at time zone _cron_wall_to_instant.timezone;
    v_other timestamptz;
    v_probe timestamptz;
begin
    if (v_instant at time zone _cron_wall_to_instant.timezone) <> v_wall then
        -- skipped by a change: walk to the first wall-clock minute that exists (at most the change's size)
        for i in 1..1440 loop
            v_wall := v_wall + interval '1 minute';
            v_instant := v_wall at time zone _cron_wall_to_instant.timezone;
            exit when (v_instant at time zone _cron_wall_to_instant.timezone) = v_wall;
        end loop;
        instant := v_instant;
        wall_exists := false;
        return;
    end if;

    -- the other occurrence, if any: the same wall time read with the offset in force 6 h earlier or later
    foreach v_probe in array array[v_instant - interval '6 hours', v_instant + interval '6 hours'] loop
        v_other := (
            v_wall - ((v_probe at time zone _cron_wall_to_instant.timezone) - (v_probe at time zone 'UTC'))
        ) at time zone 'UTC';
        if v_other <> v_instant and (v_other at time zone _cron_wall_to_instant.timezone) = v_wall then
            instant := case
                when least(v_instant, v_other) > _cron_wall_to_instant.after then least(v_instant, v_other)
                else greatest(v_instant, v_other)
            end;
            wall_exists := true;
            return;
        end if;
    end loop;

    instant := v_instant;
    wall_exists := true;
end;
$$;

-- ==== sql/0100_function__grant_role.sql ====
-- pgflow._grant_role(role, kind): grants an existing role what one kind of pgflow client needs, and
-- returns the statements it ran, in order. The three kinds (called through pgflow.grant_worker,
-- grant_starter, grant_viewer):
--   * worker:  read and start its tasks, complete and fail them (one by one and batched), extend a
--              task's timeout, register itself and heartbeat (pgflow.workers, worker_functions),
--              the maintenance it runs (requeue_stalled_tasks, requeue_dead_worker_tasks), verify
--              a compiled flow; pgmq read/send/archive/delete/set_vt on every flow's queue.
--              Not: define flows, start runs, delete anything of pgflow, cancel or retry runs.
--   * starter: start runs (start_flow, start_flow_idempotent, start_flow_with_states) and read them
--              (pgflow tables of definitions and runs, get_run_with_states); pgmq send.
--              Not: complete or fail tasks, define flows, cancel, delete.
--   * viewer:  select on every pgflow table, get_run_with_states; pgmq queue depth (select on each
--              flow's queue and archive tables). Writes nothing.
-- pgflow's functions run with their caller's rights (but for a few SECURITY DEFINER ones), so the
-- grants are on the tables those functions write, narrowed to columns where that keeps a role out
-- of another kind's function (e.g. a worker cannot set runs.cancelled_at, so cancel_run fails for
-- it). The SECURITY DEFINER functions that write (start_flow_with_states, requeue_stalled_tasks,
-- the cron setup and cleanup functions) are executable by PUBLIC by default; this function revokes
-- that from PUBLIC (the owner and superusers keep it) and grants them back by kind.
-- Queues: the grants cover the flows defined when it runs; after defining a flow, call it again
-- (every statement is idempotent). Realtime: where realtime.send exists (Supabase), a worker and a
-- starter get usage on schema realtime, execute on realtime.send and insert on realtime.messages
-- (Realtime's own row policies still apply); where the caller may not grant these, a warning says
-- so and the rest is granted.
-- Called by pgflow.grant_worker / grant_starter / grant_viewer, as a role that may grant on the
-- pgflow and pgmq objects (their owner or a superuser). Locks nothing of pgflow's rows.
-- Raises: an unknown kind (22023); a role that does not exist (42704); what GRANT raises for a
-- caller without the right to grant (42501).
create or replace function pgflow._grant_role(role name, kind text)
returns setof text
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_role text;
    v_statements text[] := array[]::text[];
    v_statement text;
    v_functions text[];
    v_signatures text;
begin
    -- GUARD
    if _grant_role.kind is null or _grant_role.kind not in ('worker', 'starter', 'viewer') then
        raise exception 'kind must be worker, starter or viewer (got %)', coalesce(_grant_role.kind, 'NULL')
            using errcode = '22023';
    end if;
    if _grant_role.role is null or not exists (
        select 1 from pg_catalog.pg_roles as r where r.rolname = _grant_role.role
    ) then
        raise exception 'role % does not exist: create it first (create role ... login password ...)',
            coalesce(quote_ident(_grant_role.role), 'NULL')
            using errcode = '42704';
    end if;
    v_role := quote_ident(_grant_role.role);

    -- PUBLIC may not run the writing SECURITY DEFINER functions (get_run_with_states only reads)
    select coalesce(array_agg(format('revoke execute on function %s from public', p.oid::regprocedure)
        order by p.oid::regprocedure::text), array[]::text[])
    into v_statements
    from pg_catalog.pg_proc as p
    where
        p.pronamespace = 'pgflow'::regnamespace
        and p.prosecdef
        and p.proname <> 'get_run_with_states'
        and has_function_privilege('public', p.oid, 'execute');

    v_statements := v_statements || format('grant usage on schema pgflow to %s', v_role);

    -- MAIN: pgflow's tables and functions, by kind
    if _grant_role.kind = 'viewer' then
        v_statements := v_statements || array[
            format('grant select on all tables in schema pgflow to %s', v_role)
        ];
        v_functions := array['get_run_with_states', 'schema_version', 'cron_next', 'is_valid_slug'];
    elsif _grant_role.kind = 'starter' then
        v_statements := v_statements || array[
            format('grant select on table pgflow.flows, pgflow.steps, pgflow.deps, pgflow.runs, pgflow.step_states, '
                'pgflow.step_tasks, pgflow.run_idempotency_keys to %s', v_role),
            format('grant insert on table pgflow.runs, pgflow.step_states, pgflow.step_tasks, '
                'pgflow.run_idempotency_keys to %s', v_role),
            -- a run whose root steps finish at once (empty maps, unmet conditions) completes in start_flow
            format('grant update (status, output, remaining_steps, completed_at, failed_at) on table pgflow.runs '
                'to %s', v_role),
            format('grant update (status, remaining_tasks, remaining_deps, initial_tasks, output, error_message, '
                'skip_reason, started_at, completed_at, failed_at, skipped_at) on table pgflow.step_states to %s',
                v_role)
        ];
        v_functions := array[
            'start_flow', 'start_flow_idempotent', 'start_flow_with_states', 'get_run_with_states',
            'schema_version', 'is_valid_slug'
        ];
    else
        v_statements := v_statements || array[
            format('grant select on table pgflow.flows, pgflow.steps, pgflow.deps, pgflow.runs, pgflow.step_states, '
                'pgflow.step_tasks, pgflow.workers, pgflow.worker_functions, pgflow.task_deadlines to %s', v_role),
            format('grant insert, update on table pgflow.workers, pgflow.worker_functions, pgflow.task_deadlines '
                'to %s', v_role),
            format('grant insert, update on table pgflow.step_tasks to %s', v_role),
            format('grant update (status, output, remaining_steps, completed_at, failed_at) on table pgflow.runs '
                'to %s', v_role),
            format('grant update (status, remaining_tasks, remaining_deps, initial_tasks, output, error_message, '
                'skip_reason, started_at, completed_at, failed_at, skipped_at) on table pgflow.step_states to %s',
                v_role)
        ];
        v_functions := array[
            'read_and_start_tasks', 'start_tasks', 'read_with_poll', 'poll_for_tasks', 'set_vt_batch',
            'complete_task', 'complete_tasks', 'complete_tasks_count', 'complete_tasks_and_claim',
            'fail_task', 'fail_task_with_delay', 'extend_task_timeout', 'mark_worker_stopped',
            'track_worker_function', 'requeue_stalled_tasks', 'requeue_dead_worker_tasks',
            'ensure_flow_compiled', 'get_run_with_states', 'schema_version', 'is_valid_slug'
        ];
    end if;

    select string_agg(p.oid::regprocedure::text, ', ' order by p.oid::regprocedure::text)
    into v_signatures
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = any(v_functions);
    v_statements := v_statements || format('grant execute on function %s to %s', v_signatures, v_role);

    -- MAIN: each flow's pgmq queue (q_<flow>), archive (a_<flow>) and message-id sequence
    v_statements := v_statements || format('grant usage on schema pgmq to %s', v_role);
    select v_statements || coalesce(array_agg(g.statement order by g.flow_slug, g.n), array[]::text[])
    into v_statements
    from (
        select f.flow_slug, x.n, format(x.template, 'pgmq.' || quote_ident(x.relname), v_role) as statement
        from pgflow.flows as f
        cross join lateral (
            values
            (1, 'q_' || lower(f.flow_slug), case _grant_role.kind
                when 'worker' then 'grant select, insert, update, delete on table %s to %s'
                when 'starter' then 'grant select, insert on table %s to %s'
                else 'grant select on table %s to %s'
            end),
            (2, 'a_' || lower(f.flow_slug), case _grant_role.kind
                when 'worker' then 'grant select, insert on table %s to %s'
                when 'viewer' then 'grant select on table %s to %s'
            end),
            (3, 'q_' || lower(f.flow_slug) || '_msg_id_seq', case _grant_role.kind
                when 'viewer' then 'grant select on sequence %s to %s'
                else 'grant usage, select on sequence %s to %s'
            end)
        ) as x (n, relname, template)
        where x.template is not null and to_regclass('pgmq.' || quote_ident(x.relname)) is not null
    ) as g;

    foreach v_statement in array v_statements loop
        execute v_statement;
        return next v_statement;
    end loop;

    -- Supabase Realtime: the events of the runs a worker or starter moves
    if _grant_role.kind <> 'viewer' and to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
        foreach v_statement in array array[
            format('grant usage on schema realtime to %s', v_role),
            format('grant execute on function realtime.send(jsonb, text, text, boolean) to %s', v_role),
            format('grant insert on table realtime.messages to %s', v_role)
        ] loop
            begin
                execute v_statement;
                return next v_statement;
            exception when insufficient_privilege then
                raise warning 'pgflow: could not run "%" (%): grant it as realtime''s owner for Realtime events',
                    v_statement, sqlerrm;
            end;
        end loop;
    end if;
end;
$$;

-- ==== sql/0100_function__park_unstartable_messages.sql ====
-- pgflow._park_unstartable_messages(p_flow_slug, msg_ids): keeps a worker's read from handing out,
-- again and again, messages whose task is past `queued`. Among the given messages of the flow's
-- queue, those whose task is
--   * finished (status neither `queued` nor `started`: completed, failed, ...): archived; no
--     callback will ever need that message again;
--   * `started` (by another worker, or an earlier attempt): hidden until the task's own deadline,
--     started_at + coalesce(step.opt_timeout, flow.opt_timeout) + 2 s (what start_tasks gave it);
--     when that has passed (a slow or dead worker), until requeue_stalled_tasks would requeue it,
--     started_at + flow.opt_timeout + 30 s; when that too has passed, the vt is left as it is. A
--     visibility is never shortened (vt = greatest(vt, deadline)).
-- Every path that hands such a task out again sets its message's vt itself (fail_task's retry
-- backoff, requeue_stalled_tasks, requeue_dead_worker_tasks), so hiding it delays nothing.
-- Messages of `queued` tasks and of no task are not touched. pgflow's start_tasks ignores these
-- messages, so they come back every read visibility timeout until the stall sweep (read_ct 8 was
-- seen for one killed worker's task); here they are read once more at most per deadline.
-- Called by pgflow._start_tasks (start_tasks, read_and_start_tasks) before it starts anything.
-- Locks: the tasks of those messages (FOR SHARE SKIP LOCKED: a task being completed, failed or
-- requeued right now keeps its message as it is, so a requeue's vt = now is never overwritten),
-- then their queue rows. Raises nothing of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._park_unstartable_messages(p_flow_slug text, msg_ids bigint [])
returns void
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_archive_ids bigint[];
    v_hide_ids bigint[];
    v_hide_until timestamptz[];
begin
    -- LOCKS + MAIN: classify the tasks that are past queued
    select
        array_agg(p.message_id order by p.message_id) filter (where p.status <> 'started'),
        array_agg(p.message_id order by p.message_id) filter (where p.status = 'started' and p.until is not null),
        array_agg(p.until order by p.message_id) filter (where p.status = 'started' and p.until is not null)
    into v_archive_ids, v_hide_ids, v_hide_until
    from (
        select
            l.message_id,
            l.status,
            case
                when l.own_deadline > clock_timestamp() then l.own_deadline
                when l.sweep_deadline > clock_timestamp() then l.sweep_deadline
            end as until
        from (
            select
                st.message_id,
                st.status,
                st.started_at + make_interval(secs => coalesce(s.opt_timeout, f.opt_timeout) + 2) as own_deadline,
                st.started_at + make_interval(secs => f.opt_timeout + 30) as sweep_deadline
            from pgflow.step_tasks as st
            inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
            inner join pgflow.flows as f on f.flow_slug = st.flow_slug
            where
                st.flow_slug = _park_unstartable_messages.p_flow_slug
                and st.message_id = any(_park_unstartable_messages.msg_ids)
                and st.status <> 'queued'
            order by st.run_id, st.step_slug, st.task_index
            for share of st skip locked
        ) as l
    ) as p;

    if v_hide_ids is not null then
        execute format(
            $sql$
            update pgmq.%I as q
            set vt = greatest(q.vt, u.until)
            from unnest($1, $2) as u (msg_id, until)
            where q.msg_id = u.msg_id
            $sql$,
            pgmq.format_table_name(_park_unstartable_messages.p_flow_slug, 'q')
        ) using v_hide_ids, v_hide_until;
    end if;

    if v_archive_ids is not null then
        perform pgmq.archive(_park_unstartable_messages.p_flow_slug, v_archive_ids);
    end if;
end;
$$;

-- ==== sql/0100_function__refresh_task_statistics.sql ====
-- pgflow._refresh_task_statistics(inserted): analyzes pgflow.step_tasks when `inserted` tasks
-- (just added by the caller's statement) are at least 1,000 and more than the table was last known
-- to hold. Called by start_ready_steps and _start_ready_steps_of_runs after inserting tasks.
-- Why: worker sessions plan their statements from step_tasks' statistics. On a fresh or small
-- table those say "a handful of rows", and plans kept from them crawl once a big map lands
-- (measured: the first 10,000-element map of a new database took 25 s, later ones 4-5 s). Other
-- sessions replan when the caller's transaction commits. It happens only while the table is small
-- next to the map, so a warm database never pays for it. A caller that does not own the table
-- gets PostgreSQL's "skipping" warning and nothing else. Locks nothing beyond ANALYZE's own.
create or replace function pgflow._refresh_task_statistics(inserted int)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if _refresh_task_statistics.inserted >= 1000 and _refresh_task_statistics.inserted > (
        select c.reltuples from pg_catalog.pg_class as c where c.oid = 'pgflow.step_tasks'::regclass
    ) then
        analyze pgflow.step_tasks;
    end if;
end;
$$;

-- ==== sql/0100_function__retry_delay.sql ====
-- pgflow._retry_delay(flow_slug, step_slug, base_delay, attempts_count): seconds before a failed
-- task of that step is retried. Without retry options (steps/flows opt_retry_jitter and
-- opt_max_retry_delay NULL, the default) it is exactly the contract's
-- pgflow.calculate_retry_delay(base_delay, attempts_count). With them (the step's, else the
-- flow's; pgflow.set_retry_policy): d = least(floor(base_delay * 2^attempts_count),
-- max_retry_delay), then with jitter j a random value in [d * (1 - j), d], floored.
-- Called by fail_task. Volatile (random()). Locks nothing. Raises nothing.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._retry_delay(flow_slug text, step_slug text, base_delay numeric, attempts_count int)
returns int
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_jitter numeric;
    v_max int;
    v_delay numeric;
begin
    select coalesce(s.opt_retry_jitter, f.opt_retry_jitter), coalesce(s.opt_max_retry_delay, f.opt_max_retry_delay)
    into v_jitter, v_max
    from pgflow.flows as f
    left join pgflow.steps as s on s.flow_slug = f.flow_slug and s.step_slug = _retry_delay.step_slug
    where f.flow_slug = _retry_delay.flow_slug;

    if v_jitter is null and v_max is null then
        return pgflow.calculate_retry_delay(_retry_delay.base_delay, _retry_delay.attempts_count);
    end if;

    -- the cap is applied in numeric, so a large attempts_count cannot overflow int
    v_delay := floor(_retry_delay.base_delay * power(2::numeric, _retry_delay.attempts_count));
    if v_max is not null then
        v_delay := least(v_delay, v_max);
    end if;
    if v_jitter is not null then
        v_delay := floor(v_delay * (1 - v_jitter * random()::numeric));
    end if;
    return v_delay::int;
end;
$$;

-- ==== sql/0100_function__start_flow.sql ====
-- pgflow._start_flow(flow_slug, input, run_id): pgflow.start_flow's work (its header says what it
-- does, locks and raises), in a function of its own so that the contract function keeps its
-- attributes while the work gets the task path's planner settings.
-- Called by start_flow only.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path"): a session that first starts runs while the
-- tables are small otherwise keeps sequential scans of runs and step_states (its own statements
-- and the foreign-key checks of its inserts) as they grow; the benchmark's 3,000 start_flow calls
-- from an empty table spent 40% of their server CPU in them.
create or replace function pgflow._start_flow(flow_slug text, input jsonb, run_id uuid)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_run pgflow.runs;
    v_has_root_map boolean;
    v_has_conditions boolean;
    v_step_count int;
    v_started text [];
    v_cascaded boolean := false;
begin
    -- The flow's shape, in one read: root maps (guard below), conditions (scheduling), step count
    select
        coalesce(bool_or(s.step_type = 'map' and s.deps_count = 0), false),
        coalesce(bool_or(s.required_input_pattern is not null or s.forbidden_input_pattern is not null), false),
        count(*)
    into v_has_root_map, v_has_conditions, v_step_count
    from pgflow.steps as s
    where s.flow_slug = _start_flow.flow_slug;

    -- GUARD: a root map step fans out over the input, which must therefore be an array
    if v_has_root_map then
        if _start_flow.input is null then
            raise exception 'Flow % has root map steps but input is NULL', _start_flow.flow_slug;
        end if;
        if jsonb_typeof(_start_flow.input) <> 'array' then
            raise exception 'Flow % has root map steps but input is not an array (got %)',
                _start_flow.flow_slug, jsonb_typeof(_start_flow.input);
        end if;
    end if;

    -- MAIN: the run and its step states
    insert into pgflow.runs (run_id, flow_slug, input, remaining_steps)
    values (
        coalesce(_start_flow.run_id, pgflow._time_ordered_uuid()),
        _start_flow.flow_slug,
        _start_flow.input,
        v_step_count
    )
    returning * into v_run;

    -- Without conditions to evaluate first, a root single step is inserted started (what
    -- start_ready_steps would make of it below; one row version instead of two, and no second
    -- round of foreign-key checks for the update of a row this transaction inserted). Its task,
    -- message and step:<slug>:started follow with the other ready steps', after the cascades.
    -- (Root maps keep start_ready_steps' path: for a big map its plain insert in task order is
    -- the cheaper one.)
    with inserted as (
        insert into pgflow.step_states (
            flow_slug, run_id, step_slug, remaining_deps, initial_tasks, status, started_at, remaining_tasks
        )
        select
            s.flow_slug,
            v_run.run_id,
            s.step_slug,
            s.deps_count,
            t.initial_tasks,
            case when t.starts then 'started' else 'created' end,
            case when t.starts then now() end,
            case when t.starts then t.initial_tasks end
        from pgflow.steps as s
        cross join lateral (
            select
                i.initial_tasks,
                not v_has_conditions and s.deps_count = 0 and s.step_type = 'single' as starts
            from (
                select case
                    -- nested CASE: the planner folds constant arms, the array check must come first
                    when s.step_type = 'map' and s.deps_count = 0 then
                        case when jsonb_typeof(v_run.input) = 'array' then jsonb_array_length(v_run.input) end
                    when s.step_type = 'map' then null
                    else 1
                end as initial_tasks
            ) as i
        ) as t
        where s.flow_slug = v_run.flow_slug
        order by s.step_index
        returning step_states.step_slug, step_states.status
    )

    select coalesce(array_agg(i.step_slug order by i.step_slug) filter (where i.status = 'started'), '{}')
    into v_started
    from inserted as i;

    perform pgflow._emit_events(
        array['run:started'],
        array[jsonb_build_object(
            'event_type', 'run:started',
            'run_id', v_run.run_id,
            'flow_slug', v_run.flow_slug,
            'input', v_run.input,
            'status', v_run.status,
            'remaining_steps', v_run.remaining_steps,
            'started_at', v_run.started_at
        )]
    );

    -- Scheduling: conditions, then steps with nothing to do, then real work. Steps unblocked by
    -- the taskless cascade get their conditions evaluated too before anything starts (pgflow
    -- starts them unevaluated, spec §13 quirk 3); each extra pass completes at least one step.
    -- Each cascade is skipped where it cannot find anything (same result, fewer statements):
    -- conditions when no step of the flow has one, the taskless wave when no step is created,
    -- unblocked and taskless; and maybe_complete_run when the run has steps and neither cascade
    -- ran (no step can have finished yet).
    loop
        if v_has_conditions and not pgflow.cascade_resolve_conditions(v_run.run_id) then
            return query select * from pgflow.runs as r where r.run_id = v_run.run_id;
            return;
        end if;
        exit when not exists (
            select 1
            from pgflow.step_states as ss
            where
                ss.run_id = v_run.run_id
                and ss.status = 'created'
                and ss.remaining_deps = 0
                and ss.initial_tasks = 0
        );
        v_cascaded := true;
        exit when pgflow.cascade_complete_taskless_steps(v_run.run_id) = 0;
    end loop;
    -- start_ready_steps, for the steps that are ready now and for those inserted started
    if cardinality(v_started) = 1 and not v_cascaded and not v_has_root_map then
        -- one step, nothing else can be ready (no root map, no cascade)
        perform pgflow._start_one_step(v_run.run_id, v_started[1]);
    elsif cardinality(v_started) > 0 then
        perform pgflow._start_ready_steps_of_runs(
            array[v_run.run_id], array_fill(v_run.run_id, array[cardinality(v_started)]), v_started
        );
    else
        perform pgflow.start_ready_steps(v_run.run_id);
    end if;
    if v_has_conditions or v_cascaded or v_run.remaining_steps = 0 then
        perform pgflow.maybe_complete_run(v_run.run_id);
    end if;

    return query select * from pgflow.runs as r where r.run_id = v_run.run_id;
end;
$$;

-- ==== sql/0100_function__start_ready_steps_of_runs.sql ====
-- pgflow._start_ready_steps_of_runs(run_ids, started_run_ids, started_step_slugs): start_ready_steps
-- for several runs in one pass: every step of a started run among run_ids that is ready (status
-- created, remaining_deps = 0, initial_tasks > 0) becomes started (started_at, remaining_tasks =
-- initial_tasks); the steps given as (started_run_ids[i], started_step_slugs[i]) were flipped so
-- by the caller already (complete_tasks_count does it in the update that makes them ready) and
-- are finished here the same way. For all of them: the step:<slug>:started broadcast (per run in
-- step_index order), one message per task ({"flow_slug","run_id","step_slug","task_index"}) and
-- its step_tasks row. One pgflow._send_batch (pgmq.send_batch's rows) per (flow, start delay) for
-- all the runs instead of one per step, message ids paired with tasks by position (runs, then
-- steps by slug, then task_index, as start_ready_steps called run after run would send them). pg_notify('pgflow_tasks',
-- flow_slug) once per flow with messages visible at once.
-- Called by complete_tasks_count and start_flow (the result is that of start_ready_steps on each
-- run, in run order).
-- Locks the ready step_states rows (ordered by run_id, step_slug); callers hold the runs' rows and
-- the rows of the steps they started.
-- Raises nothing of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._start_ready_steps_of_runs(
    run_ids uuid [],
    started_run_ids uuid [],
    started_step_slugs text [],
    claim_worker_id uuid default null,
    claim_qty int default 0
)
returns bigint []
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_visible text [];
    v_inserted int;
    v_claimed bigint [];
    v_claim_flow text;
begin
    if coalesce(cardinality(_start_ready_steps_of_runs.run_ids), 0) = 0
        and coalesce(cardinality(_start_ready_steps_of_runs.started_run_ids), 0) = 0 then
        return '{}'::bigint [];
    end if;
    if coalesce(_start_ready_steps_of_runs.claim_qty, 0) > 0 then
        select w.queue_name into v_claim_flow
        from pgflow.workers as w
        where w.worker_id = _start_ready_steps_of_runs.claim_worker_id;
    end if;

    with ready as (
        select ss.run_id, ss.step_slug
        from pgflow.step_states as ss
        inner join pgflow.runs as r on r.run_id = ss.run_id
        where
            ss.run_id = any(_start_ready_steps_of_runs.run_ids)
            and r.status = 'started'
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and ss.initial_tasks is not null
            and ss.initial_tasks > 0
        order by ss.run_id, ss.step_slug
        for update of ss
    ),

    flipped as (
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

    started as (
        select
            fl.flow_slug, fl.run_id, fl.step_slug, fl.status, fl.started_at,
            fl.initial_tasks, fl.remaining_tasks, fl.remaining_deps
        from flipped as fl
        union all
        select
            ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at,
            ss.initial_tasks, ss.remaining_tasks, ss.remaining_deps
        from unnest(_start_ready_steps_of_runs.started_run_ids, _start_ready_steps_of_runs.started_step_slugs)
            as p (run_id, step_slug)
        inner join pgflow.step_states as ss on ss.run_id = p.run_id and ss.step_slug = p.step_slug
    ),

    started_steps as (
        select
            st.*,
            s.step_index,
            coalesce(s.opt_start_delay, 0) as start_delay,
            coalesce(s.opt_timeout, f.opt_timeout) + 2 as claimed_vt
        from started as st
        inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
        inner join pgflow.flows as f on f.flow_slug = st.flow_slug
    ),

    events as (
        select
            pgflow._emit_events(
                array_agg('step:' || ss.step_slug || ':started' order by ss.run_id, ss.step_index),
                array_agg(
                    jsonb_build_object(
                        'event_type', 'step:started',
                        'run_id', ss.run_id,
                        'step_slug', ss.step_slug,
                        'status', ss.status,
                        'started_at', ss.started_at,
                        'remaining_tasks', ss.remaining_tasks,
                        'remaining_deps', ss.remaining_deps
                    )
                    order by ss.run_id, ss.step_index
                )
            ) as emitted
        from started_steps as ss
        having count(*) > 0
    ),

    tasks as (
        -- claimed: the first claim_qty tasks without start delay of the claiming worker's flow
        select
            t.*,
            case when t.claimed then t.claimed_vt else t.start_delay end as send_delay
        from (
            select
                ss.flow_slug,
                ss.start_delay,
                ss.claimed_vt,
                ss.run_id,
                ss.step_slug,
                i.task_index,
                ss.flow_slug = v_claim_flow and ss.start_delay = 0 and row_number() over (
                    partition by ss.flow_slug, ss.start_delay order by ss.run_id, ss.step_slug, i.task_index
                ) <= _start_ready_steps_of_runs.claim_qty as claimed
            from started_steps as ss
            cross join lateral generate_series(0, ss.initial_tasks - 1) as i (task_index)
        ) as t
    ),

    msgs as (
        select
            t.flow_slug,
            t.send_delay,
            t.claimed,
            t.run_id,
            t.step_slug,
            t.task_index,
            row_number() over (
                partition by t.flow_slug, t.send_delay order by t.run_id, t.step_slug, t.task_index
            ) as pos,
            jsonb_build_object(
                'flow_slug', t.flow_slug,
                'run_id', t.run_id,
                'step_slug', t.step_slug,
                'task_index', t.task_index
            ) as body
        from tasks as t
    ),

    sent as (
        select
            g.flow_slug,
            g.send_delay,
            m.msg_id,
            row_number() over (partition by g.flow_slug, g.send_delay order by m.msg_id) as pos
        from (select distinct ms.flow_slug, ms.send_delay from msgs as ms) as g
        cross join lateral pgflow._send_batch(
            g.flow_slug,
            array(
                select mb.body
                from msgs as mb
                where mb.flow_slug = g.flow_slug and mb.send_delay = g.send_delay
                order by mb.pos
            ),
            g.send_delay::integer
        ) as m (msg_id)
    ),

    inserted as (
        -- a claimed task is inserted started, as start_tasks would leave it
        insert into pgflow.step_tasks (
            flow_slug, run_id, step_slug, task_index, message_id, status, attempts_count, started_at, last_worker_id
        )
        select
            ms.flow_slug,
            ms.run_id,
            ms.step_slug,
            ms.task_index,
            se.msg_id,
            case when ms.claimed then 'started' else 'queued' end,
            case when ms.claimed then 1 else 0 end,
            case when ms.claimed then now() end,
            case when ms.claimed then _start_ready_steps_of_runs.claim_worker_id end
        from msgs as ms
        inner join sent as se on se.flow_slug = ms.flow_slug and se.send_delay = ms.send_delay and se.pos = ms.pos
        -- in key order: each index entry lands next to the previous one (a hash join's order
        -- would scatter a big map's tasks over step_tasks_pkey and split its pages)
        order by ms.run_id, ms.step_slug, ms.task_index
        returning step_tasks.message_id, step_tasks.status
    )

    select
        (select coalesce(array_agg(distinct t.flow_slug), '{}') from tasks as t where t.send_delay = 0),
        (select count(*) from inserted)::int,
        (
            select coalesce(array_agg(ins.message_id order by ins.message_id), '{}')
            from inserted as ins
            where ins.status = 'started'
        )
    into v_visible, v_inserted, v_claimed
    from (select count(*) as n from events) as e;

    -- Statistics for the workers' plans when a big map lands on a small table
    -- (its threshold checked here first: no call, no catalog read for the common small start)
    if coalesce(v_inserted, 0) >= 1000 then
        perform pgflow._refresh_task_statistics(coalesce(v_inserted, 0));
    end if;

    -- Worker wake-up: one notification per flow with messages visible now
    perform pg_notify('pgflow_tasks', v.flow_slug) from unnest(v_visible) as v (flow_slug);

    return v_claimed;
end;
$$;

-- ==== sql/0100_function__start_tasks.sql ====
-- pgflow._start_tasks(p_flow_slug, msg_ids, worker_id, set_vt): pgflow.start_tasks' work, with the
-- visibility step optional. For the messages a worker read from the flow's queue, starts the tasks
-- that may run and returns what their handlers need (pgflow.step_task_record's columns plus the
-- task's attempts_count after starting, one row per started task, ordered by msg_id).
-- Eligible: step_tasks of this flow whose message_id is in msg_ids, status queued, run started and
-- step started. Ids of queued tasks that are not eligible, and of no task, are ignored silently.
-- Ids of tasks past queued go to pgflow._park_unstartable_messages: a started task's message is
-- hidden until the task's deadline, a finished task's archived (pgflow ignores them, so they come
-- back every visibility timeout).
-- Started tasks: attempts_count + 1, started_at now(), last_worker_id = worker_id (FK to
-- pgflow.workers: register the worker first). With set_vt their messages become invisible for
-- coalesce(step.opt_timeout, flow.opt_timeout) + 2 seconds (pgflow's intent; its own CTE for this
-- never ran, spec §13 quirk 1) via set_vt_batch, so a slow handler is not re-read mid-flight;
-- pgflow.read_and_start_tasks passes false when its read already gave them that visibility.
-- Inputs (§6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- Called by pgflow.start_tasks and pgflow.read_and_start_tasks.
-- Locks the eligible step_tasks rows (ordered by run, step, task index; SKIP LOCKED, see LOCKS)
-- and their queue messages.
-- Raises nothing of its own (unknown worker_id violates step_tasks_last_worker_id_fkey).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._start_tasks(p_flow_slug text, msg_ids bigint [], worker_id uuid, set_vt boolean)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int
)
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_msg_ids bigint[];
    v_vt_offsets integer[];
begin
    -- LOCKS: the eligible tasks, in key order, skipping those another transaction holds: a
    -- caller may hold the messages it read (pgflow.read_and_start_tasks, or pgmq.read in the
    -- same transaction) while a writer that locked the task first waits for its message
    -- (cancel_run archiving it): waiting here would close a deadlock. A task skipped is one
    -- that is being started, requeued, resumed or cancelled by that other transaction; its
    -- message is left to it (pgmq.read_and_start_tasks gives it the caller's vt).
    select coalesce(array_agg(e.message_id), '{}') into v_msg_ids
    from (
        select st.message_id
        from pgflow.step_tasks as st
        inner join pgflow.runs as r on r.run_id = st.run_id
        inner join pgflow.step_states as ss on ss.run_id = st.run_id and ss.step_slug = st.step_slug
        where
            st.flow_slug = _start_tasks.p_flow_slug
            and st.message_id = any(_start_tasks.msg_ids)
            and st.status = 'queued'
            and r.status = 'started'
            and ss.status = 'started'
        order by st.run_id, st.step_slug, st.task_index
        for update of st skip locked
    ) as e;

    -- Messages of tasks past queued: hidden until the task's deadline, or archived when finished
    -- (only looked for when some id is not eligible: not on the common path)
    if cardinality(v_msg_ids) < cardinality(_start_tasks.msg_ids) then
        perform pgflow._park_unstartable_messages(_start_tasks.p_flow_slug, _start_tasks.msg_ids);
    end if;

    -- MAIN: start them (compare-and-set on status queued). Addressed by message id rather than by
    -- a join back to the locked rows: one index probe per id whatever the table statistics say.
    with started as (
        update pgflow.step_tasks as st
        set
            status = 'started',
            attempts_count = st.attempts_count + 1,
            started_at = now(),
            last_worker_id = _start_tasks.worker_id
        where
            st.flow_slug = _start_tasks.p_flow_slug
            and st.message_id = any(v_msg_ids)
            and st.status = 'queued'
        returning st.message_id, st.step_slug
    )

    select
        coalesce(array_agg(sd.message_id order by sd.message_id), '{}'),
        coalesce(array_agg(coalesce(s.opt_timeout, f.opt_timeout) + 2 order by sd.message_id), '{}')
    into v_msg_ids, v_vt_offsets
    from started as sd
    inner join pgflow.steps as s on s.flow_slug = _start_tasks.p_flow_slug and s.step_slug = sd.step_slug
    inner join pgflow.flows as f on f.flow_slug = _start_tasks.p_flow_slug;

    if cardinality(v_msg_ids) = 0 then
        return;
    end if;

    -- Visibility: the handler owns the message for the task timeout plus a 2 s margin
    if _start_tasks.set_vt then
        perform 1 from pgflow.set_vt_batch(_start_tasks.p_flow_slug, v_msg_ids, v_vt_offsets) as v;
    end if;

    return query select * from pgflow._task_records(_start_tasks.p_flow_slug, v_msg_ids);
end;
$$;

-- ==== sql/0100_function_add_step.sql ====
-- pgflow.add_step(...): appends a step (a DAG node) and its dependencies (edges) to a flow.
-- Called by users, compiled DSL output and _create_flow_from_shape.
-- Steps must be added in topological order: every dependency must already exist (FK).
-- Idempotent: re-adding an existing step returns the existing row untouched (options and
-- deps_count are not updated) and inserts only dependency rows it did not have, as pgflow does;
-- an edge that would close a cycle (a descendant of the step as its dependency) is refused.
-- Locks: the flows row (FOR UPDATE) so that concurrent add_step calls get distinct step_index.
-- Raises: `Adding dependencies [...] to step "<s>" of flow "<f>" would create a cycle`; `Map step "<s>" can have at most one dependency, ...`;
-- `null value in column "dep_slug" of relation "deps" violates not-null constraint` (a NULL in deps_slugs); constraint violations named in
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
    -- GUARD: a map step takes one dependency, counted as given (the same slug twice is two)
    if v_step_type = 'map' and coalesce(cardinality(add_step.deps_slugs), 0) > 1 then
        raise exception 'Map step "%" can have at most one dependency, but % were provided: %',
            add_step.step_slug, cardinality(add_step.deps_slugs), array_to_string(add_step.deps_slugs, ', ');
    end if;

    -- GUARD: no NULL dependency (what the deps insert would raise; raised before anything is written)
    if array_position(add_step.deps_slugs, null) is not null then
        raise exception 'null value in column "dep_slug" of relation "deps" violates not-null constraint'
            using
                errcode = 'not_null_violation',
                schema = 'pgflow',
                table = 'deps',
                column = 'dep_slug',
                hint = 'deps_slugs must not contain NULL.';
    end if;

    -- Distinct dependency slugs, in the order given: a slug given twice is one edge and counts
    -- once in deps_count (pgflow counts it twice, and that step could never start)
    select coalesce(array_agg(d.slug order by d.ord), '{}')
    into v_deps
    from (
        select u.slug, min(u.ord) as ord
        from unnest(add_step.deps_slugs) with ordinality as u (slug, ord)
        group by u.slug
    ) as d;

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

-- ==== sql/0100_function_cancel_run.sql ====
-- pgflow.cancel_run(run_id): stops a started run. Beside the contract (run control).
-- The run becomes `cancelled` (cancelled_at now(); remaining_steps and output untouched, as for
-- a failed run); its step states that were created or started become `cancelled`, and so do its
-- queued and started tasks; every message of those tasks is archived in one
-- pgmq.archive(queue, msg_ids[]) call, so no worker picks up more of its work; `run:cancelled` is
-- broadcast (Realtime and NOTIFY, as the other events; payload event_type, run_id, flow_slug,
-- status, cancelled_at). Completed, failed and skipped steps and tasks keep their state.
-- Afterwards the contract's callbacks for the run change nothing: complete_task and fail_task
-- find their step not started (late callback), start_tasks and requeue_stalled_tasks find no
-- queued or started task, the batched functions defer to complete_task.
-- A run that is not started (completed, failed, cancelled) is returned unchanged.
-- Example: select * from pgflow.cancel_run('<run_id>');
-- Called by clients (pgflow cancel <run_id>).
-- LOCKS: the run row, then its step_states rows, then its unfinished task rows in key order
-- (every writer of a run takes the run row first), then the tasks' queue messages (as
-- complete_task and requeue_stalled_tasks: task, then message). A worker that holds a message it
-- read (pgflow.read_and_start_tasks, pgmq.read + start_tasks in one transaction) while this call
-- waits for that message skips the task this call holds (pgflow._start_tasks locks SKIP LOCKED)
-- instead of waiting for it, so the two never deadlock.
-- Raises `Run <run_id> not found` (P0002) for an unknown run.
create or replace function pgflow.cancel_run(run_id uuid)
returns pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
    v_msg_ids bigint [];
begin
    -- GUARD + LOCKS: the run
    select * into v_run
    from pgflow.runs as r
    where r.run_id = cancel_run.run_id
    for update;

    if not found then
        raise exception 'Run % not found', cancel_run.run_id using errcode = 'P0002';
    end if;
    if v_run.status <> 'started' then
        return v_run;
    end if;

    -- MAIN: run, steps, tasks, then their messages
    update pgflow.runs as r
    set status = 'cancelled', cancelled_at = now()
    where r.run_id = cancel_run.run_id
    returning r.* into v_run;

    update pgflow.step_states as ss
    set status = 'cancelled'
    where ss.run_id = cancel_run.run_id and ss.status in ('created', 'started');

    -- tasks in key order (as every writer of several tasks), then their messages
    perform 1
    from pgflow.step_tasks as st
    where st.run_id = cancel_run.run_id and st.status in ('queued', 'started')
    order by st.step_slug, st.task_index
    for update;

    with cancelled as (
        update pgflow.step_tasks as st
        set status = 'cancelled'
        where st.run_id = cancel_run.run_id and st.status in ('queued', 'started')
        returning st.message_id
    )

    select coalesce(array_agg(c.message_id order by c.message_id), '{}') into v_msg_ids
    from cancelled as c
    where c.message_id is not null;

    if cardinality(v_msg_ids) > 0 then
        perform pgmq.archive(v_run.flow_slug, v_msg_ids);
    end if;

    perform pgflow._emit_event(
        'run:cancelled',
        jsonb_build_object(
            'event_type', 'run:cancelled',
            'run_id', v_run.run_id,
            'flow_slug', v_run.flow_slug,
            'status', v_run.status,
            'cancelled_at', v_run.cancelled_at
        )
    );

    return v_run;
end;
$$;

-- ==== sql/0100_function_cascade_resolve_conditions.sql ====
-- pgflow.cascade_resolve_conditions(run_id): evaluates the conditions (required_input_pattern /
-- forbidden_input_pattern) of the run's steps that just became ready, and applies when_unmet to
-- those whose condition is not met. Returns true when the run may continue, false when it is
-- failed (already, or by a when_unmet 'fail' step); true for an unknown run (nothing to resolve).
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

    -- an unknown run has nothing to resolve: true, as the contract's algorithm gives
    if v_status = 'failed' then
        return false;
    elsif v_status is null or v_status = 'completed' then
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
--     The step that leaves none to do completes the run in the update that counts it down (the
--     output and run:completed of maybe_complete_run; with no step left the cascades and
--     start_ready_steps have nothing to find); a task that does not complete its step skips
--     start_ready_steps and maybe_complete_run (nothing became ready, the run still has it).
--     When no step of the flow has a condition, a dependent made ready with tasks to run starts
--     in the update that counts its dependencies down (one row version instead of two); its
--     messages, tasks and step:<slug>:started follow where start_ready_steps would send them
--     (pgflow._start_one_step for one such step; pgflow._start_ready_steps_of_runs for several,
--     or with the run's other ready steps after a cascade).
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
    v_step_type text;
    v_has_map_child boolean;
    v_has_dependents boolean;
    v_task pgflow.step_tasks;
    v_map_child text;
    v_output_type text;
    v_has_conditions boolean;
    v_run_completed boolean := false;
    v_cascaded boolean := false;
    v_started text [] := '{}'::text [];
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

    -- The step state, with what the code below needs of the step's definition (its type, whether
    -- a step depends on it, whether a map step does, whether any step of the flow has a
    -- condition) read in the same statement
    select
        ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.remaining_tasks, s.step_type,
        exists (
            select 1
            from pgflow.deps as d
            inner join pgflow.steps as cs on cs.flow_slug = d.flow_slug and cs.step_slug = d.step_slug
            where d.flow_slug = ss.flow_slug and d.dep_slug = ss.step_slug and cs.step_type = 'map'
        ),
        exists (select 1 from pgflow.deps as d where d.flow_slug = ss.flow_slug and d.dep_slug = ss.step_slug),
        exists (
            select 1
            from pgflow.steps as cond
            where
                cond.flow_slug = ss.flow_slug
                and (cond.required_input_pattern is not null or cond.forbidden_input_pattern is not null)
        )
    into v_state.flow_slug, v_state.run_id, v_state.step_slug, v_state.status, v_state.remaining_tasks,
        v_step_type, v_has_map_child, v_has_dependents, v_has_conditions
    from pgflow.step_states as ss
    inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
    where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
    for update of ss;

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

    -- GUARD: type violation (a map child needs an array from this single step)
    if v_step_type = 'single' and v_has_map_child
        and coalesce(jsonb_typeof(complete_task.output), 'null') <> 'array' then
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

    -- The step: count down; the last task completes it and writes its output once. Three plain
    -- statements rather than one with CASE arms: each keeps one cached generic plan, and a
    -- countdown never reads the sibling tasks.
    if v_state.remaining_tasks is distinct from 1 then
        update pgflow.step_states as ss
        set remaining_tasks = ss.remaining_tasks - 1
        where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
        returning ss.* into v_state;
    elsif v_step_type = 'map' then
        update pgflow.step_states as ss
        set
            remaining_tasks = 0,
            status = 'completed',
            completed_at = now(),
            output = (
                select coalesce(jsonb_agg(t.output order by t.task_index), '[]'::jsonb)
                from pgflow.step_tasks as t
                where
                    t.run_id = complete_task.run_id
                    and t.step_slug = complete_task.step_slug
                    and t.status = 'completed'
            )
        where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
        returning ss.* into v_state;
    else
        update pgflow.step_states as ss
        set remaining_tasks = 0, status = 'completed', completed_at = now(), output = complete_task.output
        where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
        returning ss.* into v_state;
    end if;

    if v_state.status = 'completed' then
        -- Dependents (a leaf has none): one dep fewer; a dependent map learns how many tasks it has
        -- A dependent this makes ready with tasks to run also starts here (status, started_at,
        -- remaining_tasks: what start_ready_steps would write below) when the flow has no
        -- conditions to evaluate first: one write of its row instead of two;
        -- _start_ready_steps_of_runs sends its messages, inserts its tasks and broadcasts
        -- step:<slug>:started where start_ready_steps would, after the taskless cascade.
        if v_has_dependents then
            with unblocked as (
                update pgflow.step_states as cs
                set
                    remaining_deps = cs.remaining_deps - 1,
                    initial_tasks = p.initial_tasks,
                    status = case when p.starts then 'started' else cs.status end,
                    started_at = case when p.starts then now() else cs.started_at end,
                    remaining_tasks = case when p.starts then p.initial_tasks else cs.remaining_tasks end
                from (
                    select
                        q.step_slug,
                        q.initial_tasks,
                        coalesce(not v_has_conditions and q.ready and q.initial_tasks > 0, false) as starts
                    from (
                        select
                            ds.step_slug,
                            ds.status = 'created' and ds.remaining_deps = 1 as ready,
                            case
                                when cs_step.step_type = 'map' and ds.initial_tasks is null then
                                    -- nested CASE: the planner folds constant arms, the array check
                                    -- must come first
                                    case
                                        when jsonb_typeof(v_state.output) = 'array'
                                            then jsonb_array_length(v_state.output)
                                    end
                                else ds.initial_tasks
                            end as initial_tasks
                        from pgflow.deps as d
                        inner join pgflow.steps as cs_step
                            on cs_step.flow_slug = d.flow_slug and cs_step.step_slug = d.step_slug
                        inner join pgflow.step_states as ds
                            on ds.run_id = v_state.run_id and ds.step_slug = d.step_slug
                        where d.flow_slug = v_state.flow_slug and d.dep_slug = v_state.step_slug
                    ) as q
                ) as p
                where cs.run_id = v_state.run_id and cs.step_slug = p.step_slug
                returning cs.step_slug, cs.status
            )

            select coalesce(array_agg(u.step_slug order by u.step_slug) filter (where u.status = 'started'), '{}')
            into v_started
            from unblocked as u;
        end if;

        -- The run: one step fewer. The last step completes the run in the same update (what
        -- maybe_complete_run would do at the end: with no step left, the cascades and
        -- start_ready_steps below find nothing), so the run row gets one new version, not two.
        update pgflow.runs as r
        set
            remaining_steps = r.remaining_steps - 1,
            status = case when r.remaining_steps = 1 and r.status = 'started' then 'completed' else r.status end,
            completed_at = case when r.remaining_steps = 1 and r.status = 'started' then now() else r.completed_at end,
            output = case
                when r.remaining_steps = 1 and r.status = 'started' then (
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
                else r.output
            end
        where r.run_id = complete_task.run_id
        returning r.* into v_run;
        v_run_completed := v_run.status = 'completed';

        -- step:<slug>:completed, before anything it unblocks; with run:completed in the same call
        -- when this step completed the run (nothing can be emitted between them then)
        perform pgflow._emit_events(
            case
                when v_run_completed then array['step:' || v_state.step_slug || ':completed', 'run:completed']
                else array['step:' || v_state.step_slug || ':completed']
            end,
            array[jsonb_build_object(
                'event_type', 'step:completed',
                'run_id', v_state.run_id,
                'step_slug', v_state.step_slug,
                'status', v_state.status,
                'output', v_state.output,
                'completed_at', v_state.completed_at
            )] || case
                when v_run_completed then array[jsonb_build_object(
                    'event_type', 'run:completed',
                    'run_id', v_run.run_id,
                    'flow_slug', v_run.flow_slug,
                    'status', v_run.status,
                    'output', v_run.output,
                    'completed_at', v_run.completed_at
                )]
                else '{}'::jsonb []
            end
        );

        -- Conditions of the steps this unblocked, then steps with nothing to do; repeated so that
        -- steps unblocked by the taskless cascade are evaluated before they start (spec §13
        -- quirk 3: pgflow starts them unevaluated). Each extra pass completes at least one step.
        -- Both cascades are skipped where they cannot find anything (same result, two function
        -- calls and their statements saved on the hot path): conditions when no step of the flow
        -- has one; the taskless wave when no step is created, unblocked and taskless.
        if not v_run_completed then
            loop
                if v_has_conditions and not pgflow.cascade_resolve_conditions(complete_task.run_id) then
                    perform pgflow._archive_task_message(
                        complete_task.run_id, complete_task.step_slug, complete_task.task_index
                    );
                    return query select v_task.*;
                    return;
                end if;
                exit when not exists (
                    select 1
                    from pgflow.step_states as ss
                    where
                        ss.run_id = complete_task.run_id
                        and ss.status = 'created'
                        and ss.remaining_deps = 0
                        and ss.initial_tasks = 0
                );
                v_cascaded := true;
                exit when pgflow.cascade_complete_taskless_steps(complete_task.run_id) = 0;
            end loop;
        end if;
    end if;

    -- The task's message (what _archive_task_message would look up, already in hand)
    if v_task.message_id is not null then
        perform pgmq.archive(v_task.flow_slug, v_task.message_id);
    end if;

    -- Only a completed step changes what is ready or what is left of the run: a countdown
    -- (a map task that is not the last) leaves both as they were
    if v_state.status = 'completed' and not v_run_completed then
        if cardinality(v_started) = 0 then
            perform pgflow.start_ready_steps(complete_task.run_id);
        elsif cardinality(v_started) = 1 and not v_cascaded then
            perform pgflow._start_one_step(complete_task.run_id, v_started[1]);
        else
            -- the steps started above, and (after a taskless cascade) any other ready step
            perform pgflow._start_ready_steps_of_runs(
                case when v_cascaded then array[complete_task.run_id] else '{}'::uuid [] end,
                array_fill(complete_task.run_id, array[cardinality(v_started)]),
                v_started
            );
        end if;
        -- steps are left (the run did not complete above): only a cascade can have finished them
        if v_has_conditions or v_cascaded then
            perform pgflow.maybe_complete_run(complete_task.run_id);
        end if;
    end if;

    return query select v_task.*;
end;
$$;

-- ==== sql/0100_function_complete_tasks.sql ====
-- pgflow.complete_tasks(run_ids, step_slugs, task_indexes, outputs): pgflow.complete_tasks_count's
-- batch (same effect: pgflow.complete_task for every item, in (run_id, step_slug, task_index)
-- order, in one transaction), then the final step_tasks row of every known item (unknown items: no
-- row; a task given twice: one row). Not part of pgflow's API: beside pgflow.complete_task.
-- Called by pgflow-py's clients (PgflowSqlClient.complete_tasks).
-- Locks as pgflow.complete_tasks_count.
-- Raises `run_ids, step_slugs, task_indexes and outputs must have the same length (<a>, <b>, <c>, <d>)`;
-- whatever complete_task raises (then nothing of the batch is applied).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.complete_tasks(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb []
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
begin
    perform pgflow.complete_tasks_count(
        complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes, complete_tasks.outputs
    );

    return query
    select st.*
    from pgflow.step_tasks as st
    where (st.run_id, st.step_slug, st.task_index) in (
        select u.run_id, u.step_slug, u.task_index
        from unnest(complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes)
            as u (run_id, step_slug, task_index)
    );
end;
$$;

-- ==== sql/0100_function_complete_tasks_and_claim.sql ====
-- pgflow.complete_tasks_and_claim(run_ids, step_slugs, task_indexes, outputs, worker_id, qty): a
-- worker reports several task results (pgflow.complete_tasks_count's effect) and takes, in the same
-- transaction, up to qty of the tasks these results make ready in its own flow (the queue of
-- worker_id in pgflow.workers), steps without start delay, first ones first: they are inserted
-- started by worker_id (attempts_count 1) and their messages sent invisible for the step's
-- timeout + 2 s, which is what reading and starting them would have done, without the read, the
-- second write of each task, or the round trip. A chain's next step thus runs on the worker that
-- finished the previous one, at once. Other new tasks are queued and visible as usual. Not part of
-- pgflow's API (pgmq.read + pgflow.start_tasks + pgflow.complete_task are the contract calls).
-- Returns the claimed tasks as pgflow.read_and_start_tasks returns started ones (its columns; the
-- message fields as the queue holds them, read_ct 0), ordered by msg_id.
-- Called by the pgflow-py worker.
-- Locks and raises as pgflow._complete_tasks (unknown worker_id: nothing is claimed).
-- Planning: random_page_cost = 1.1, as in pgflow._complete_tasks (which says why).
-- Also one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.complete_tasks_and_claim(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb [], worker_id uuid, qty integer
)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int,
    read_ct int,
    enqueued_at timestamptz,
    message_vt timestamptz,
    message jsonb
)
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set random_page_cost = 1.1
as $$
declare
    v_claimed bigint [];
    v_flow text;
    v_ids bigint [];
    v_read_cts int [];
    v_enqueued timestamptz [];
    v_vts timestamptz [];
    v_messages jsonb [];
begin
    select c.claimed into v_claimed
    from pgflow._complete_tasks(
        complete_tasks_and_claim.run_ids, complete_tasks_and_claim.step_slugs,
        complete_tasks_and_claim.task_indexes, complete_tasks_and_claim.outputs,
        complete_tasks_and_claim.worker_id, coalesce(complete_tasks_and_claim.qty, 0)
    ) as c;

    if coalesce(cardinality(v_claimed), 0) = 0 then
        return;
    end if;

    select w.queue_name into v_flow
    from pgflow.workers as w
    where w.worker_id = complete_tasks_and_claim.worker_id;

    -- the messages as sent (the queue's table is the flow's)
    execute format(
        'select array_agg(q.msg_id order by q.msg_id), array_agg(q.read_ct order by q.msg_id), '
        'array_agg(q.enqueued_at order by q.msg_id), '
        'array_agg(q.vt order by q.msg_id), array_agg(q.message order by q.msg_id) '
        'from pgmq.%I as q where q.msg_id = any($1)',
        pgmq.format_table_name(v_flow, 'q')
    ) into v_ids, v_read_cts, v_enqueued, v_vts, v_messages using v_claimed;

    return query
    select
        t.flow_slug,
        t.run_id,
        t.step_slug,
        t.input,
        t.msg_id,
        t.task_index,
        t.flow_input,
        t.attempts_count,
        m.read_ct,
        m.enqueued_at,
        m.vt,
        m.message
    from pgflow._task_records(v_flow, v_claimed) as t
    inner join unnest(v_ids, v_read_cts, v_enqueued, v_vts, v_messages)
        as m (msg_id, read_ct, enqueued_at, vt, message)
        on m.msg_id = t.msg_id
    order by t.msg_id;
end;
$$;

-- ==== sql/0100_function_complete_tasks_count.sql ====
-- pgflow.complete_tasks_count(run_ids, step_slugs, task_indexes, outputs): a worker reports several
-- task results in one call (one round trip, one transaction). Not part of pgflow's API: beside
-- pgflow.complete_task, whose effect it has for every item (item i is (run_ids[i], step_slugs[i],
-- task_indexes[i], outputs[i]), applied in (run_id, step_slug, task_index) order); returns the
-- number of distinct known tasks among the items (unknown ones: not counted; a task given twice:
-- once). The work is pgflow._complete_tasks'; pgflow.complete_tasks is the same with the rows read
-- back, pgflow.complete_tasks_and_claim the same handing the worker the tasks it makes ready.
-- Called by pgflow-py's worker when it does not claim (and by any client).
-- Locks and raises as pgflow._complete_tasks: `run_ids, step_slugs, task_indexes and outputs must
-- have the same length (<a>, <b>, <c>, <d>)`; whatever complete_task raises (then nothing of the
-- batch is applied).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.complete_tasks_count(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb []
)
returns int
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
begin
    return (
        select c.known
        from pgflow._complete_tasks(
            complete_tasks_count.run_ids, complete_tasks_count.step_slugs,
            complete_tasks_count.task_indexes, complete_tasks_count.outputs, null, 0
        ) as c
    );
end;
$$;

-- ==== sql/0100_function_create_schedule.sql ====
-- pgflow.create_schedule(schedule_slug, flow_slug, cron, input, timezone, overlap_policy,
-- catchup_policy, catchup_window, enabled, start_after): creates a schedule that starts
-- `flow_slug` at every time `cron` names in `timezone` (see cron_next), ticked by tick_schedules.
-- Each run's input is `input` plus `"scheduled_for": "<the scheduled time, ISO 8601 UTC>"`.
-- The first time is the first match strictly after start_after (default now()); a start_after in
-- the past, with catchup_policy 'all' and a wide enough catchup_window, backfills on the next tick.
-- Returns the new row. Called by operators, compiled flows (the DSL) and the CLI.
-- Locks: the new row (insert). Raises what _check_schedule raises (bad slug, unknown flow, a flow
-- with a root map step, bad cron or zone, input not an object, bad policy or window) and
-- `schedule "<slug>" already exists ...`; nothing is written then.
create or replace function pgflow.create_schedule(
    schedule_slug text,
    flow_slug text,
    cron text,
    input jsonb default '{}',
    timezone text default 'UTC',
    overlap_policy text default 'allow',
    catchup_policy text default 'latest',
    catchup_window interval default '1 day',
    enabled boolean default true,
    start_after timestamptz default null
)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_schedule pgflow.schedules;
begin
    -- GUARD
    perform pgflow._check_schedule(
        create_schedule.schedule_slug, create_schedule.flow_slug, create_schedule.cron, create_schedule.input,
        create_schedule.timezone, create_schedule.overlap_policy, create_schedule.catchup_policy,
        create_schedule.catchup_window
    );
    if create_schedule.enabled is null then
        raise exception 'enabled must be true or false (got NULL)';
    end if;

    -- MAIN
    insert into pgflow.schedules as s (
        schedule_slug, flow_slug, cron, timezone, input, enabled, overlap_policy, catchup_policy, catchup_window,
        next_scheduled_start_time
    )
    values (
        create_schedule.schedule_slug, create_schedule.flow_slug, create_schedule.cron, create_schedule.timezone,
        create_schedule.input, create_schedule.enabled, create_schedule.overlap_policy,
        create_schedule.catchup_policy, create_schedule.catchup_window,
        pgflow.cron_next(
            create_schedule.cron, coalesce(create_schedule.start_after, now()), create_schedule.timezone
        )
    )
    on conflict on constraint schedules_pkey do nothing
    returning * into v_schedule;

    if v_schedule.schedule_slug is null then
        raise exception 'schedule "%" already exists (change it with pgflow.update_schedule)',
            create_schedule.schedule_slug;
    end if;
    return v_schedule;
end;
$$;

-- ==== sql/0100_function_cron_next.sql ====
-- pgflow.cron_next(cron, after, timezone): the first instant strictly after `after` at which the
-- cron expression fires, with its fields read as wall-clock time in the IANA zone `timezone`.
-- Called by create_schedule/update_schedule/tick_schedules, and by anyone checking an expression
-- (`select pgflow.cron_next('*/15 9-17 * * mon-fri', now(), 'Europe/London')`).
-- Syntax (see _cron_parse): 5 fields, `*`, lists, ranges, steps (`*/15`, `10-50/10`), month and
-- day names, @hourly/@daily/@midnight/@weekly/@monthly/@yearly/@annually, and Vixie cron's rule
-- that a day matches when either restricted day field does.
-- Daylight-saving changes, as croniter (the test oracle) answers them:
--   * fall-back day: a wall-clock time in the repeated hour fires at BOTH of its instants
--     (`30 1 * * *` in America/New_York fires at 01:30 EDT and again at 01:30 EST);
--   * spring-forward day: a time in the skipped hour fires once, at the instant of the change
--     (`30 2 * * *` fires at 03:00 EDT), unless the hour field is `*` (every hour): then skipped
--     times do not fire (`*/30 * * * *` goes 01:30 EST, 03:00 EDT).
-- Works in wall-clock time (_cron_next_wall) and maps the result to an instant
-- (_cron_wall_to_instant); a second search from the wall clock shifted by the offset change
-- finds a repeated-hour time that comes first. A handful of iterations per call.
-- Locks nothing. Raises `invalid cron expression "<cron>": ...` (naming the field),
-- `unknown time zone "<zone>"`, `cron expression "<cron>" matches no time within 50 years ...`,
-- and an error for a NULL argument.
create or replace function pgflow.cron_next(cron text, after timestamptz, timezone text default 'UTC')
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
declare
    v_fields record;
    v_after_wall timestamp;
    v_wall timestamp;
    v_hit record;
    v_alt record;
    v_offset_change interval;
begin
    -- GUARD
    if cron_next.after is null then
        raise exception 'cron_next: after is NULL';
    end if;
    if cron_next.timezone is null then
        raise exception 'unknown time zone: it is NULL';
    end if;
    begin
        v_after_wall := cron_next.after at time zone cron_next.timezone;
    exception when invalid_parameter_value then
        raise exception 'unknown time zone "%": use an IANA name such as UTC or Europe/Paris '
            '(see pg_timezone_names)', cron_next.timezone;
    end;
    select * into v_fields from pgflow._cron_parse(cron_next.cron);

    -- MAIN: the next matching wall-clock time, as an instant
    v_wall := pgflow._cron_next_wall(
        v_after_wall, v_fields.minutes, v_fields.hours, v_fields.days, v_fields.months, v_fields.weekdays,
        v_fields.day_or
    );
    if v_wall is null then
        raise exception 'cron expression "%" matches no time within 50 years after %', cron_next.cron,
            v_after_wall;
    end if;
    select * into v_hit from pgflow._cron_wall_to_instant(v_wall, cron_next.timezone, cron_next.after);

    -- a time skipped by spring-forward fires at the change, unless the hour is `*`: then the next time
    if not v_hit.wall_exists and (v_hit.instant <= cron_next.after or cardinality(v_fields.hours) = 24) then
        while not v_hit.wall_exists loop
            v_wall := pgflow._cron_next_wall(
                v_wall, v_fields.minutes, v_fields.hours, v_fields.days, v_fields.months, v_fields.weekdays,
                v_fields.day_or
            );
            if v_wall is null then
                raise exception 'cron expression "%" matches no time within 50 years after %', cron_next.cron,
                    v_after_wall;
            end if;
            select * into v_hit from pgflow._cron_wall_to_instant(v_wall, cron_next.timezone, cron_next.after);
        end loop;
    end if;

    -- the offset changed between `after` and the hit: a time of the repeated hour may come first
    v_offset_change := ((v_hit.instant at time zone cron_next.timezone) - (v_hit.instant at time zone 'UTC'))
        - (v_after_wall - (cron_next.after at time zone 'UTC'));
    if v_offset_change <> interval '0' then
        v_wall := pgflow._cron_next_wall(
            v_after_wall + v_offset_change, v_fields.minutes, v_fields.hours, v_fields.days, v_fields.months,
            v_fields.weekdays, v_fields.day_or
        );
        if v_wall is not null then
            select * into v_alt from pgflow._cron_wall_to_instant(v_wall, cron_next.timezone, cron_next.after);
            if v_alt.wall_exists and v_alt.instant > cron_next.after and v_alt.instant < v_hit.instant then
                return v_alt.instant;
            end if;
        end if;
    end if;

    return v_hit.instant;
end;
$$;

-- ==== sql/0100_function_delete_schedule.sql ====
-- pgflow.delete_schedule(schedule_slug): deletes a schedule and returns its last state. Runs it
-- started are kept (their input still carries "scheduled_for"); their schedule_runs links go.
-- Called by operators and the CLI.
-- Locks: the schedule row (delete; waits for a tick_schedules holding it), then its schedule_runs
-- rows (ON DELETE CASCADE). Raises `schedule "<slug>" does not exist`.
create or replace function pgflow.delete_schedule(schedule_slug text)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_schedule pgflow.schedules;
begin
    delete from pgflow.schedules as s
    where s.schedule_slug = delete_schedule.schedule_slug
    returning * into v_schedule;
    if v_schedule.schedule_slug is null then
        raise exception 'schedule % does not exist', coalesce('"' || delete_schedule.schedule_slug || '"', 'NULL');
    end if;
    return v_schedule;
end;
$$;

-- ==== sql/0100_function_extend_task_timeout.sql ====
-- pgflow.extend_task_timeout(run_id, step_slug, task_index, seconds): a handler that needs longer
-- than its step's timeout says so while it runs (pgflow-py: ctx.extend(seconds)). Beside the
-- contract (run control). For a started task of a started run, its deadline becomes
-- greatest(now() + seconds, its current deadline) (current: the last extension of this attempt,
-- else started_at + coalesce(step.opt_timeout, flow.opt_timeout)); the deadline is recorded in
-- pgflow.task_deadlines for this attempt; the task's message stays hidden until 2 s past the
-- deadline; requeue_stalled_tasks leaves the task alone until 30 s past it (and never sweeps it
-- sooner than it would have without the extension). Returns the new deadline; NULL (and changes
-- nothing) when the task is no longer started or its run no longer started (the worker has lost
-- it: completed elsewhere, requeued, cancelled). Tasks never extended behave as before.
-- Example: select pgflow.extend_task_timeout('<run_id>', 'render', 0, 300);
-- Called by the pgflow-py worker on behalf of a running handler.
-- LOCKS: the task row (FOR UPDATE), then its message. Takes no run or step lock.
-- Raises `seconds must be a positive number of seconds (got <n>)` (22023); `Task <run_id>/<step>/
-- <index> not found` (P0002).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.extend_task_timeout(run_id uuid, step_slug text, task_index int, seconds integer)
returns timestamptz
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_task pgflow.step_tasks;
    v_run_status text;
    v_timeout int;
    v_deadline timestamptz;
begin
    -- GUARD
    if extend_task_timeout.seconds is null or extend_task_timeout.seconds <= 0 then
        raise exception 'seconds must be a positive number of seconds (got %)',
            coalesce(extend_task_timeout.seconds::text, 'NULL')
            using errcode = '22023';
    end if;

    -- LOCKS: the task
    select * into v_task
    from pgflow.step_tasks as t
    where
        t.run_id = extend_task_timeout.run_id
        and t.step_slug = extend_task_timeout.step_slug
        and t.task_index = extend_task_timeout.task_index
    for update;

    if not found then
        raise exception 'Task %/%/% not found',
            extend_task_timeout.run_id, extend_task_timeout.step_slug, extend_task_timeout.task_index
            using errcode = 'P0002';
    end if;

    select r.status into v_run_status from pgflow.runs as r where r.run_id = extend_task_timeout.run_id;
    if v_task.status <> 'started' or v_run_status <> 'started' then
        return null;
    end if;

    -- MAIN: the new deadline (never earlier than the current one)
    select coalesce(s.opt_timeout, f.opt_timeout) into v_timeout
    from pgflow.steps as s
    inner join pgflow.flows as f on f.flow_slug = s.flow_slug
    where s.flow_slug = v_task.flow_slug and s.step_slug = v_task.step_slug;

    select greatest(
        now() + make_interval(secs => extend_task_timeout.seconds),
        coalesce(
            (
                select d.deadline_at
                from pgflow.task_deadlines as d
                where
                    d.run_id = v_task.run_id
                    and d.step_slug = v_task.step_slug
                    and d.task_index = v_task.task_index
                    and d.extended_at >= v_task.started_at
            ),
            v_task.started_at + make_interval(secs => v_timeout)
        )
    ) into v_deadline;

    insert into pgflow.task_deadlines (run_id, step_slug, task_index, extended_at, deadline_at)
    values (v_task.run_id, v_task.step_slug, v_task.task_index, now(), v_deadline)
    on conflict on constraint task_deadlines_pkey
    do update set extended_at = excluded.extended_at, deadline_at = excluded.deadline_at;

    if v_task.message_id is not null then
        perform pgmq.set_vt(
            v_task.flow_slug,
            v_task.message_id,
            ceil(extract(epoch from v_deadline - clock_timestamp()))::int + 2
        );
    end if;

    return v_deadline;
end;
$$;

-- ==== sql/0100_function_fail_stalled_tasks.sql ====
-- pgflow.fail_stalled_tasks(): ends the runs that stalled tasks would otherwise hold forever. Not
-- part of pgflow's API: pgflow's requeue_stalled_tasks (unchanged here) gives up on a task after 3
-- requeues by stamping permanently_stalled_at and archiving its message, and leaves the task, its
-- step and its run `started` for good (spec section 13, quirk 12).
-- Each task that is `started`, permanently stalled, in a `started` step of a `started` run is
-- failed through pgflow.fail_task, as a failure of its handler would be, with the error message
-- `Task stalled <n> times (requeued <n - 1> times, the limit): each time its worker stopped
-- reporting before the task's timeout + 30 s or its heartbeat stopped` (n = requeued_count + 1).
-- fail_task never retries a permanently stalled task, so the step's when_exhausted decides: `fail`
-- fails the step and the run (`step:<slug>:failed`, `run:failed`, the run's messages archived);
-- `skip` / `skip-cascade` skip the step (and its descendants) and the run goes on. A failed run can
-- then be retried or resumed with the run-control functions.
-- Returns one row per task it failed: flow_slug, run_id, step_slug, task_index, stalled_count (n),
-- and the step's and the run's status afterwards (for a log line).
-- Called by maintenance callers after requeue_stalled_tasks and requeue_dead_worker_tasks (the
-- pgflow-py worker's maintenance loop and `pgflow maintain`, in the second part of issue 21), and
-- by the pg_cron job of pgflow.setup_recovery_cron.
-- One fail_task call per task (the transitions, events and cascades are fail_task's, not copied
-- here); there are few such tasks, each the fourth stall of one task.
-- Locks: as fail_task, task by task in (run_id, step_slug, task_index) order: the run, its step
-- state, the task. The candidates are read without locks; fail_task's compare-and-set on status
-- `started` makes a task failed meanwhile (or completed by a late worker) a no-op, not returned.
-- Not SECURITY DEFINER: its callers, workers and the cron job's owner, have the rights fail_task needs.
-- Raises what fail_task raises (nothing of its own).
create or replace function pgflow.fail_stalled_tasks()
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    task_index int,
    stalled_count int,
    step_status text,
    run_status text
)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_task record;
    v_failed pgflow.step_tasks;
    v_message text;
begin
    for v_task in
        select t.flow_slug, t.run_id, t.step_slug, t.task_index, t.requeued_count + 1 as stalled_count
        from pgflow.step_tasks as t
        inner join pgflow.runs as r on r.run_id = t.run_id
        inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
        where
            t.status = 'started'
            and t.permanently_stalled_at is not null
            and r.status = 'started'
            and ss.status = 'started'
        order by t.run_id, t.step_slug, t.task_index
    loop
        v_message := format(
            'Task stalled %s times (requeued %s times, the limit): each time its worker stopped reporting '
            'before the task''s timeout + 30 s or its heartbeat stopped',
            v_task.stalled_count, v_task.stalled_count - 1
        );

        select * into v_failed
        from pgflow.fail_task(v_task.run_id, v_task.step_slug, v_task.task_index, v_message) as ft;

        if v_failed.status = 'failed' and v_failed.error_message = v_message then
            return query
            select
                v_task.flow_slug,
                v_task.run_id,
                v_task.step_slug,
                v_task.task_index,
                v_task.stalled_count,
                ss.status,
                r.status
            from pgflow.runs as r
            inner join pgflow.step_states as ss on ss.run_id = r.run_id and ss.step_slug = v_task.step_slug
            where r.run_id = v_task.run_id;
        end if;
    end loop;
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
--   * Task 'started' but permanently stalled (permanently_stalled_at set, its message archived):
--     never retried, exhausted at once (pgflow differs: it would queue a task that has no message).
--   * Task 'queued' (step started): no state change, but its message vt is still pushed to
--     now + calculate_retry_delay(base_delay, attempts_count) (spec §13 quirk 11).
--   The delay is pgflow._retry_delay's: calculate_retry_delay's unless the step or flow opted
--   into jitter or a maximum delay (pgflow.set_retry_policy; beside the contract).
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

    -- MAIN: retry or exhaust the task (compare-and-set: only a started task moves). A permanently
    -- stalled task lost its message (requeue_stalled_tasks archived it): a retry could never run,
    -- so it fails as if its attempts were exhausted (pgflow.fail_stalled_tasks relies on it).
    update pgflow.step_tasks as t
    set status = case
            when t.attempts_count < v_max_attempts and t.permanently_stalled_at is null then 'queued'
            else 'failed'
        end,
        started_at = case
            when t.attempts_count < v_max_attempts and t.permanently_stalled_at is null then null
            else t.started_at
        end,
        failed_at = case
            when t.attempts_count < v_max_attempts and t.permanently_stalled_at is null then null
            else now()
        end,
        error_message = fail_task.error_message
    where
        t.run_id = fail_task.run_id
        and t.step_slug = fail_task.step_slug
        and t.task_index = fail_task.task_index
        and t.status = 'started'
    returning t.* into v_task;

    if v_task.status = 'queued' then
        -- (a step row that has neither is left as it is: no new row version for nothing)
        update pgflow.step_states as ss
        set error_message = null, failed_at = null
        where
            ss.run_id = fail_task.run_id
            and ss.step_slug = fail_task.step_slug
            and (ss.error_message is not null or ss.failed_at is not null);

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
    -- archived when the task is failed. A task this call queued for a retry is as the update left
    -- it (nothing since touched it); any other is read again.
    if v_task.status is distinct from 'queued' then
        select * into v_task
        from pgflow.step_tasks as t
        where
            t.run_id = fail_task.run_id
            and t.step_slug = fail_task.step_slug
            and t.task_index = fail_task.task_index;
    end if;

    if v_task.status = 'queued' and v_task.message_id is not null then
        perform pgmq.set_vt(
            v_run.flow_slug,
            v_task.message_id,
            pgflow._retry_delay(v_run.flow_slug, fail_task.step_slug, v_base_delay, v_task.attempts_count)
        );
    elsif v_task.status = 'failed' and v_task.message_id is not null then
        perform pgmq.archive(v_run.flow_slug, v_task.message_id);
    end if;

    -- (the row read above: the message calls change no task row; no row for an unknown task)
    if v_task.run_id is not null then
        return query select v_task.*;
    end if;
end;
$$;

-- ==== sql/0100_function_fail_task_with_delay.sql ====
-- pgflow.fail_task_with_delay(run_id, step_slug, task_index, error_message, retry_delay_seconds):
-- pgflow.fail_task with the retry delay chosen by the handler for this one failure (an HTTP 429's
-- Retry-After, say). Beside the contract. The effect is fail_task's in every case; only when this
-- call puts a started task back in the queue for another attempt is its message hidden for
-- retry_delay_seconds instead of the computed backoff (no jitter, no cap: the handler knows
-- best). Attempts are counted as usual: an exhausted task fails, whatever the delay.
-- retry_delay_seconds NULL: exactly fail_task.
-- Example: select * from pgflow.fail_task_with_delay('<run_id>', 'fetch', 0, 'HTTP 429', 120);
-- Called by the pgflow-py worker for exceptions carrying retry_after.
-- LOCKS: the run row first (as fail_task, which then locks the step state and the task).
-- Raises `retry_delay_seconds must be >= 0 (got <n>)`; nothing else of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.fail_task_with_delay(
    run_id uuid, step_slug text, task_index int, error_message text, retry_delay_seconds integer
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_before text;
    v_task pgflow.step_tasks;
begin
    -- GUARD
    if fail_task_with_delay.retry_delay_seconds < 0 then
        raise exception 'retry_delay_seconds must be >= 0 (got %)', fail_task_with_delay.retry_delay_seconds
            using errcode = '22023';
    end if;

    -- LOCKS: run first, so the task's status read here is the one fail_task sees
    perform 1 from pgflow.runs as r where r.run_id = fail_task_with_delay.run_id for update;

    select t.status into v_before
    from pgflow.step_tasks as t
    where
        t.run_id = fail_task_with_delay.run_id
        and t.step_slug = fail_task_with_delay.step_slug
        and t.task_index = fail_task_with_delay.task_index;

    -- MAIN: the contract's failure, then the handler's delay for a retry this call made
    select * into v_task
    from pgflow.fail_task(
        fail_task_with_delay.run_id, fail_task_with_delay.step_slug,
        fail_task_with_delay.task_index, fail_task_with_delay.error_message
    );

    if v_task.run_id is null then
        return;
    end if;

    if fail_task_with_delay.retry_delay_seconds is not null
        and v_before = 'started'
        and v_task.status = 'queued'
        and v_task.message_id is not null then
        perform pgmq.set_vt(v_task.flow_slug, v_task.message_id, fail_task_with_delay.retry_delay_seconds);
    end if;

    return next v_task;
end;
$$;

-- ==== sql/0100_function_get_run_with_states.sql ====
-- pgflow.get_run_with_states(run_id): a run and all its step states as one JSON document,
-- {"run": <runs row>, "steps": [<step_states rows>, ...]} ("steps" is [] when there are none;
-- ordered by the steps' step_index). NULL for an unknown run.
-- Beside the contract (run control): "run" also carries, only when they are set (so that a run
-- that never used run control gets exactly the contract's document), cancelled_at, retry_of_run_id
-- (the run this one retries) and retried_by_run_id (the run that retries this one,
-- pgflow.retry_run).
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
        'run', (to_jsonb(r) - 'cancelled_at' - 'retry_of_run_id') || jsonb_strip_nulls(
            jsonb_build_object(
                'cancelled_at', r.cancelled_at,
                'retry_of_run_id', r.retry_of_run_id,
                'retried_by_run_id', (
                    select rr.run_id
                    from pgflow.runs as rr
                    where rr.retry_of_run_id = r.run_id
                    order by rr.started_at, rr.run_id
                    limit 1
                )
            )
        ),
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

-- ==== sql/0100_function_pause_schedule.sql ====
-- pgflow.pause_schedule(schedule_slug): disables a schedule; tick_schedules starts nothing for it
-- until resume_schedule. Runs already started go on. Pausing a paused schedule changes nothing.
-- Returns the row. Called by operators and the CLI.
-- Locks: the schedule row (FOR UPDATE, by the update). Raises `schedule "<slug>" does not exist`.
create or replace function pgflow.pause_schedule(schedule_slug text)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_schedule pgflow.schedules;
begin
    update pgflow.schedules as s
    set enabled = false, updated_at = case when s.enabled then greatest(now(), s.created_at) else s.updated_at end
    where s.schedule_slug = pause_schedule.schedule_slug
    returning * into v_schedule;
    if v_schedule.schedule_slug is null then
        raise exception 'schedule % does not exist', coalesce('"' || pause_schedule.schedule_slug || '"', 'NULL');
    end if;
    return v_schedule;
end;
$$;

-- ==== sql/0100_function_prune_runs.sql ====
-- pgflow.prune_runs(older_than, max_runs): retention. Deletes up to max_runs finished runs
-- (completed, failed or cancelled) that finished (completed_at, failed_at or cancelled_at) before
-- now() - older_than, oldest first, with everything that belongs to them: their tasks (and task
-- deadlines), step states, idempotency keys, their tasks' messages in the flow's queue archive
-- pgmq.a_<flow> (and in the queue itself, should one be left there), and the retry links that
-- point at them (a retry keeps its run, its retry_of_run_id becomes NULL). Never touches a started
-- run or its messages. Returns how many runs it deleted. Beside the contract (run control; the
-- name pgflow.prune_data_older_than belongs to users' own installs of pgflow's recipe).
-- Messages are found by their tasks' message_id (the archive's primary key), not by scanning
-- message bodies: every message of a run is one of its tasks' (pgflow.resume_run keeps it so).
-- Short transactions: one call deletes at most max_runs runs, so that it can run beside a busy
-- worker; call it again while it returns max_runs (the worker's maintenance loop does).
-- Example: select pgflow.prune_runs(interval '7 days');
-- Called by the pgflow-py worker (Worker(retention=...)), `pgflow prune`, or pg_cron.
-- LOCKS: the runs it deletes (FOR UPDATE SKIP LOCKED: a run some caller holds is left for the next
-- call), then their tasks, step states, then the tasks' messages (the order of every other
-- writer: run, step state, task, message).
-- Raises `older_than must be a non-negative interval (got <x>)`, `max_runs must be at least 1
-- (got <n>)` (22023).
create or replace function pgflow.prune_runs(older_than interval, max_runs integer default 1000)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run_ids uuid [];
    v_flows text [];
    v_msg_ids bigint [];
    v_flow text;
    v_ids bigint [];
begin
    -- GUARD
    if prune_runs.older_than is null or prune_runs.older_than < interval '0' then
        raise exception 'older_than must be a non-negative interval (got %)', coalesce(prune_runs.older_than::text, 'NULL')
            using errcode = '22023';
    end if;
    if prune_runs.max_runs is null or prune_runs.max_runs < 1 then
        raise exception 'max_runs must be at least 1 (got %)', coalesce(prune_runs.max_runs::text, 'NULL')
            using errcode = '22023';
    end if;

    -- LOCKS: the oldest finished runs (idx_runs_finished)
    select coalesce(array_agg(v.run_id), '{}') into v_run_ids
    from (
        select r.run_id
        from pgflow.runs as r
        where
            r.status <> 'started'
            and coalesce(r.completed_at, r.failed_at, r.cancelled_at) < now() - prune_runs.older_than
        order by coalesce(r.completed_at, r.failed_at, r.cancelled_at), r.run_id
        limit prune_runs.max_runs
        for update skip locked
    ) as v;

    if cardinality(v_run_ids) = 0 then
        return 0;
    end if;

    -- MAIN: tasks (their deadlines cascade), keeping their message ids; step states; runs (their
    -- idempotency keys cascade, retries pointing at them get NULL)
    with gone as (
        delete from pgflow.step_tasks as st
        where st.run_id = any(v_run_ids)
        returning st.flow_slug, st.message_id
    )

    select
        coalesce(array_agg(g.flow_slug) filter (where g.message_id is not null), '{}'),
        coalesce(array_agg(g.message_id) filter (where g.message_id is not null), '{}')
    into v_flows, v_msg_ids
    from gone as g;

    delete from pgflow.step_states as ss where ss.run_id = any(v_run_ids);
    delete from pgflow.runs as r where r.run_id = any(v_run_ids);

    -- their messages: one statement per flow archive (by primary key), and the queue
    for v_flow, v_ids in
        select u.flow_slug, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_flows, v_msg_ids) as u (flow_slug, msg_id)
        group by u.flow_slug
        order by u.flow_slug
    loop
        if to_regclass(format('pgmq.%I', pgmq.format_table_name(v_flow, 'a'))) is not null then
            execute format('delete from pgmq.%I as a where a.msg_id = any($1)', pgmq.format_table_name(v_flow, 'a'))
            using v_ids;
            perform pgmq.delete(v_flow, v_ids);
        end if;
    end loop;

    return cardinality(v_run_ids);
end;
$$;

-- ==== sql/0100_function_read_and_start_tasks.sql ====
-- pgflow.read_and_start_tasks(queue_name, worker_id, vt, qty): both phases of polling in one call
-- (one round trip, one transaction): pgmq.read of up to qty visible messages of the flow's queue,
-- then pgflow.start_tasks' work on them (pgflow._start_tasks). Not part of pgflow's API: pgflow-py's
-- worker uses it; pgmq.read / read_with_poll followed by pgflow.start_tasks stay the contract and
-- have the same effect in two calls.
-- Returns one row per started task, ordered by msg_id: pgflow.step_task_record's columns, the
-- task's attempts_count after starting, and its message's read_ct, enqueued_at, vt (as the read set
-- it) and body.
-- Visibility: when every step of the flow has the same timeout (coalesce(step.opt_timeout,
-- flow.opt_timeout)), the read itself makes the messages invisible for that timeout + 2 s, which
-- is what start_tasks' set_vt_batch would set a moment later, so the queue is updated once. With
-- different timeouts the read uses vt and set_vt_batch follows, as in start_tasks. Messages read
-- but not started end as after pgmq.read + start_tasks: a queued task's (run or step not started)
-- with vt seconds of invisibility; a started task's hidden until its deadline, a finished task's
-- archived (pgflow._park_unstartable_messages; a started task past both its deadlines keeps the
-- read's visibility).
-- Called by the pgflow-py worker.
-- Locks the messages read (pgmq.read: FOR UPDATE SKIP LOCKED), then as pgflow.start_tasks.
-- Raises what pgmq.read raises for an unknown queue; what start_tasks raises (unknown worker_id
-- violates step_tasks_last_worker_id_fkey).
-- Planning: random_page_cost = 1.1 for this call and what it calls. Its statements reach a few
-- rows by key, rows just written and in shared buffers; with the default 4.0 the planner
-- preferred scanning a whole table of a thousand runs (or tasks) to ten index probes (seen with
-- auto_explain in benchmark scenario 2, 1,000 runs: sequential scans of runs and step_tasks in
-- up to eight statements per batch). Tables large enough, or small enough, plan the same either way.
-- Also one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.read_and_start_tasks(queue_name text, worker_id uuid, vt integer, qty integer)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int,
    read_ct int,
    enqueued_at timestamptz,
    message_vt timestamptz,
    message jsonb
)
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set random_page_cost = 1.1
as $$
declare
    v_final_vt int;
    v_ids bigint [];
    v_read_cts int [];
    v_enqueued timestamptz [];
    v_vts timestamptz [];
    v_messages jsonb [];
    v_started int;
    v_ignored bigint [];
begin
    -- MAIN: the read (visibility: the tasks' timeout + 2 s when it is one for the whole flow)
    select
        coalesce(array_agg(m.msg_id order by m.msg_id), '{}'),
        array_agg(m.read_ct order by m.msg_id),
        array_agg(m.enqueued_at order by m.msg_id),
        array_agg(m.vt order by m.msg_id),
        array_agg(m.message order by m.msg_id),
        max(o.final_vt)
    into v_ids, v_read_cts, v_enqueued, v_vts, v_messages, v_final_vt
    from (
        select case when min(t.timeout) = max(t.timeout) then max(t.timeout) + 2 end as final_vt
        from (
            select coalesce(s.opt_timeout, f.opt_timeout) as timeout
            from pgflow.flows as f
            inner join pgflow.steps as s on s.flow_slug = f.flow_slug
            where f.flow_slug = read_and_start_tasks.queue_name
        ) as t
    ) as o
    cross join lateral pgmq.read(
        read_and_start_tasks.queue_name,
        coalesce(o.final_vt, read_and_start_tasks.vt),
        read_and_start_tasks.qty
    ) as m;

    if cardinality(v_ids) = 0 then
        return;
    end if;

    -- then start_tasks' work (its set_vt_batch only when the read could not set the visibility)
    return query
    select
        t.flow_slug,
        t.run_id,
        t.step_slug,
        t.input,
        t.msg_id,
        t.task_index,
        t.flow_input,
        t.attempts_count,
        m.read_ct,
        m.enqueued_at,
        m.vt,
        m.message
    from pgflow._start_tasks(read_and_start_tasks.queue_name, v_ids, read_and_start_tasks.worker_id, v_final_vt is null)
        as t
    inner join unnest(v_ids, v_read_cts, v_enqueued, v_vts, v_messages) as m (msg_id, read_ct, enqueued_at, vt, message)
        on m.msg_id = t.msg_id
    order by t.msg_id;
    get diagnostics v_started = row_count;

    -- Messages read but not started keep the caller's visibility timeout, as with pgmq.read
    if v_final_vt is not null and v_started < cardinality(v_ids) then
        v_ignored := array(
            select i.id
            from unnest(v_ids) as i (id)
            where not exists (
                select 1
                from pgflow.step_tasks as st
                where
                    st.flow_slug = read_and_start_tasks.queue_name
                    and st.message_id = i.id
                    and st.status <> 'queued'
            )
        );
        perform 1
        from pgflow.set_vt_batch(
            read_and_start_tasks.queue_name,
            v_ignored,
            array_fill(read_and_start_tasks.vt, array[cardinality(v_ignored)])
        ) as v;
    end if;
end;
$$;

-- ==== sql/0100_function_read_with_poll.sql ====
-- pgflow.read_with_poll(queue_name, vt, qty, max_poll_seconds, poll_interval_ms, conditional): a thin
-- wrapper over pgmq.read_with_poll with the same parameters and defaults, kept for callers that
-- can reach only schema pgflow (a role granted pgflow but not pgmq, a PostgREST schema list).
-- pgflow dropped its own copy in 0.8 and its workers call pgmq.read_with_poll directly; this
-- project's design names it among the schema's functions, and pgflow's suite passes with it.
-- plpgsql (bound at call time), so that installing the schema never depends on the exact pgmq
-- signature; pgmq >= 1.5 has the `conditional` parameter.
-- Example: select * from pgflow.read_with_poll('greet', 30, 10);
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

-- ==== sql/0100_function_requeue_dead_worker_tasks.sql ====
-- pgflow.requeue_dead_worker_tasks(heartbeat_timeout, function_name): recovers the tasks of workers
-- that died as soon as their heartbeat says so, instead of after pgflow.requeue_stalled_tasks'
-- flow timeout + 30 s. Not part of pgflow's API: beside requeue_stalled_tasks, left as it is.
-- Called by maintenance callers (the pgflow-py worker's maintenance loop and `pgflow maintain`, in
-- the second part of issue 21) and by the pg_cron job of pgflow.setup_recovery_cron(heartbeat_timeout
-- => ...).
--
-- A worker is dead when its pgflow.workers row has stopped_at NULL (it did not stop cleanly:
-- pgflow.mark_worker_stopped was not called), last_heartbeat_at older than clock_timestamp() -
-- heartbeat_timeout and, when function_name is given, that function_name (so that workers sweep
-- only for workers of their own kind in a database shared with others). deprecated_at is not
-- looked at: a deprecated worker that still heartbeats is draining and alive; one that stopped
-- heartbeating without stopping is dead like any other. A stopped worker is never dead here:
-- pgflow's edge worker marks itself stopped and then finishes its in-flight tasks; what it
-- abandons is left to requeue_stalled_tasks.
-- Its tasks: `started`, not permanently stalled, last_worker_id = that worker, in a run and a step
-- that are both `started` (a task left `started` in a failed run or a skipped step holds nothing).
-- Each is handled as requeue_stalled_tasks handles a stalled task, against the same limit:
--   * requeued_count < 3: back to `queued` (started_at and last_worker_id NULL, requeued_count+1,
--     last_requeued_at now()), its message visible now (set_vt_batch, one call per queue) and one
--     pg_notify('pgflow_tasks', <flow_slug>) per flow to wake idle workers;
--   * otherwise: permanently_stalled_at now(), its message archived, status stays `started`;
--     pgflow.fail_stalled_tasks then fails it as a failure of its step.
-- Event: one `worker:dead` per dead worker that had tasks, NOTIFY on channel `pgflow` only (no run
-- to address a Realtime topic), payload {"event_type": "worker:dead", "worker_id", "queue_name",
-- "function_name", "last_heartbeat_at", "requeued_tasks": <n>, "stalled_tasks": <n>}.
-- Returns one row per task it handled: flow_slug, run_id, step_slug, task_index, worker_id,
-- last_heartbeat_at (of that worker), requeued_count (after), outcome ('requeued' or
-- 'permanently_stalled'), ordered by worker, run, step, task index: enough for a log line.
--
-- The threshold must exceed the longest gap between two heartbeats of a live worker. pgflow's
-- TypeScript edge worker heartbeats only between batches, so a handler of it running longer than
-- the threshold would be requeued while it runs (and executed twice). That is why no cron job
-- calls this by default, and why function_name exists.
--
-- Locks: in one statement, the dead workers' rows (FOR SHARE SKIP LOCKED: a heartbeat committing
-- meanwhile is seen on recheck, one in progress means the worker is alive) and their tasks (FOR
-- UPDATE SKIP LOCKED: a task being completed right now is left alone), tasks in key order. No run or
-- step_state lock, as requeue_stalled_tasks. Not SECURITY DEFINER (unlike it): its callers, workers
-- and the job owner, have the rights on pgmq tables it uses.
-- Raises `heartbeat_timeout must be a positive interval, got <value>`.
create or replace function pgflow.requeue_dead_worker_tasks(
    heartbeat_timeout interval default '15 seconds', function_name text default null
)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    task_index int,
    worker_id uuid,
    last_heartbeat_at timestamptz,
    requeued_count int,
    outcome text
)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_cutoff timestamptz;
    v_flows text[];
    v_run_ids uuid[];
    v_step_slugs text[];
    v_task_indexes int[];
    v_msg_ids bigint[];
    v_worker_ids uuid[];
    v_heartbeats timestamptz[];
    v_requeued_counts int[];
    v_outcomes text[];
    v_queue text;
    v_outcome text;
    v_ids bigint[];
begin
    -- GUARD
    if requeue_dead_worker_tasks.heartbeat_timeout is null
        or requeue_dead_worker_tasks.heartbeat_timeout <= interval '0' then
        raise exception 'heartbeat_timeout must be a positive interval, got %',
            coalesce(requeue_dead_worker_tasks.heartbeat_timeout::text, 'NULL');
    end if;
    -- heartbeats are written with clock_timestamp(), so they are judged by it
    v_cutoff := clock_timestamp() - requeue_dead_worker_tasks.heartbeat_timeout;

    -- LOCKS + MAIN: claim the dead workers' tasks, then requeue or give up on each, in one statement
    with claimed as (
        select t.run_id, t.step_slug, t.task_index, t.requeued_count, w.worker_id, w.last_heartbeat_at
        from pgflow.step_tasks as t
        inner join pgflow.workers as w on w.worker_id = t.last_worker_id
        inner join pgflow.runs as r on r.run_id = t.run_id
        inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
        where
            t.status = 'started'
            and t.permanently_stalled_at is null
            and w.stopped_at is null
            and w.last_heartbeat_at < v_cutoff
            and (requeue_dead_worker_tasks.function_name is null or w.function_name = requeue_dead_worker_tasks.function_name)
            and r.status = 'started'
            and ss.status = 'started'
        order by t.run_id, t.step_slug, t.task_index
        for update of t skip locked
        for share of w skip locked
    ),

    handled as (
        update pgflow.step_tasks as t
        set
            status = case when c.requeued_count < 3 then 'queued' else t.status end,
            started_at = case when c.requeued_count < 3 then null else t.started_at end,
            last_worker_id = case when c.requeued_count < 3 then null else t.last_worker_id end,
            requeued_count = case when c.requeued_count < 3 then t.requeued_count + 1 else t.requeued_count end,
            last_requeued_at = case when c.requeued_count < 3 then now() else t.last_requeued_at end,
            permanently_stalled_at = case when c.requeued_count < 3 then null else now() end
        from claimed as c
        where
            t.run_id = c.run_id
            and t.step_slug = c.step_slug
            and t.task_index = c.task_index
        returning
            t.flow_slug, t.run_id, t.step_slug, t.task_index, t.message_id, c.worker_id, c.last_heartbeat_at,
            t.requeued_count,
            case when c.requeued_count < 3 then 'requeued' else 'permanently_stalled' end as outcome
    )

    select
        array_agg(h.flow_slug order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.run_id order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.step_slug order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.task_index order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.message_id order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.worker_id order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.last_heartbeat_at order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.requeued_count order by h.worker_id, h.run_id, h.step_slug, h.task_index),
        array_agg(h.outcome order by h.worker_id, h.run_id, h.step_slug, h.task_index)
    into
        v_flows, v_run_ids, v_step_slugs, v_task_indexes, v_msg_ids, v_worker_ids, v_heartbeats,
        v_requeued_counts, v_outcomes
    from handled as h;

    if v_run_ids is null then
        return;
    end if;

    -- messages: visible again (requeued) or archived (given up), one call per queue and outcome
    for v_queue, v_outcome, v_ids in
        select u.flow_slug, u.outcome, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_flows, v_msg_ids, v_outcomes) as u (flow_slug, msg_id, outcome)
        where u.msg_id is not null
        group by u.flow_slug, u.outcome
        order by u.flow_slug, u.outcome
    loop
        if v_outcome = 'requeued' then
            perform pgflow.set_vt_batch(v_queue, v_ids, array_fill(0, array[cardinality(v_ids)]));
            perform pg_notify('pgflow_tasks', v_queue);
        else
            perform pgmq.archive(v_queue, v_ids);
        end if;
    end loop;

    -- one worker:dead event per dead worker, in worker order
    perform pgflow._emit_events(
        array_agg('worker:dead'::text order by e.worker_id),
        array_agg(e.payload order by e.worker_id)
    )
    from (
        select
            u.worker_id,
            jsonb_build_object(
                'event_type', 'worker:dead',
                'worker_id', u.worker_id,
                'queue_name', w.queue_name,
                'function_name', w.function_name,
                'last_heartbeat_at', u.last_heartbeat_at,
                'requeued_tasks', count(*) filter (where u.outcome = 'requeued'),
                'stalled_tasks', count(*) filter (where u.outcome = 'permanently_stalled')
            ) as payload
        from unnest(v_worker_ids, v_heartbeats, v_outcomes) as u (worker_id, last_heartbeat_at, outcome)
        inner join pgflow.workers as w on w.worker_id = u.worker_id
        group by u.worker_id, u.last_heartbeat_at, w.queue_name, w.function_name
    ) as e;

    return query
    select *
    from unnest(
        v_flows, v_run_ids, v_step_slugs, v_task_indexes, v_worker_ids, v_heartbeats, v_requeued_counts, v_outcomes
    );
end;
$$;

-- ==== sql/0100_function_requeue_stalled_tasks.sql ====
-- pgflow.requeue_stalled_tasks(): recovers tasks whose worker died. Called every 15 seconds by
-- the cron job pgflow_requeue_stalled_tasks, or by a worker/operator on plain PostgreSQL.
--
-- A task is stalled when it is `started`, not yet permanently stalled, and
-- started_at < now() - (flow.opt_timeout + 30) s: the flow's timeout only, a step's own
-- opt_timeout is not used (the contract's rule, spec section 6.1). Nothing else is checked: a
-- task left `started` in a failed run or a skipped step is swept like any other.
-- Beside the contract (run control): a task whose handler extended its deadline
-- (pgflow.extend_task_timeout, pgflow.task_deadlines) is not stalled before 30 s past it.
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
        inner join pgflow.flows as f on f.flow_slug = t.flow_slug
        where
            t.status = 'started'
            and t.permanently_stalled_at is null
            and t.started_at < now() - make_interval(secs => f.opt_timeout + 30)
            -- run control: a task whose handler extended its deadline (extend_task_timeout) is
            -- left alone until 30 s past that deadline; tasks never extended have no row here
            and not exists (
                select 1
                from pgflow.task_deadlines as d
                where
                    d.run_id = t.run_id
                    and d.step_slug = t.step_slug
                    and d.task_index = t.task_index
                    and d.extended_at >= t.started_at
                    and d.deadline_at >= now() - interval '30 seconds'
            )
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

-- ==== sql/0100_function_resume_run.sql ====
-- pgflow.resume_run(run_id): continues a failed or cancelled run where it stopped. Beside the
-- contract (run control). Returns the run as it is afterwards.
--   * Completed steps, and the completed tasks of a partly completed map, keep their outputs and
--     are not run again; skipped steps stay skipped.
--   * Steps that had started and did not complete (failed, cancelled, or left started when the
--     run failed) are started again: status started, error_message/failed_at cleared,
--     remaining_tasks = their tasks not completed; those tasks are queued again with fresh
--     attempts (attempts_count 0, requeued_count 0, error, output and timestamps cleared) and a new
--     message each (one pgmq.send_batch, no delay); their superseded messages are removed from
--     the queue and its archive, so every task keeps exactly one message; `step:<slug>:started`
--     is broadcast for each (step_index order).
--   * Steps that never started (cancelled while created, failed by an unmet condition) are
--     created again and scheduled as at the run's start (conditions evaluated again).
--   * The run: status started, failed_at / cancelled_at NULL, remaining_steps unchanged (a failed
--     or cancelled step never counted down); `run:resumed` is broadcast (payload event_type,
--     run_id, flow_slug, status, remaining_steps); then, as start_flow: cascade_resolve_conditions
--     -> cascade_complete_taskless_steps (repeated) -> start_ready_steps -> maybe_complete_run.
-- From there the run counts down, emits its events and produces its output exactly as if it had
-- never stopped; if it fails again it can be resumed again. A task still running on a worker
-- when its run is resumed is queued afresh: its worker's late complete_task finds it queued and
-- changes nothing, a late fail_task only delays its new message (the contract's rule for a queued
-- task, spec section 13 quirk 11); once a worker started the new attempt, a late callback counts
-- for that attempt, as after requeue_stalled_tasks.
-- A run that is started or completed is returned unchanged.
-- Example: select status from pgflow.resume_run('<run_id>');
-- Called by clients (pgflow resume <run_id>).
-- LOCKS: the run row, then its step_states rows (step_slug order), then the tasks it queues
-- again (key order), then their messages.
-- Raises `Run <run_id> not found` (P0002); what the cascades raise.
create or replace function pgflow.resume_run(run_id uuid)
returns pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
    v_old_msg_ids bigint [];
    v_requeued int := 0;
    v_events int;
begin
    -- GUARD + LOCKS: the run, then its step states
    select * into v_run
    from pgflow.runs as r
    where r.run_id = resume_run.run_id
    for update;

    if not found then
        raise exception 'Run % not found', resume_run.run_id using errcode = 'P0002';
    end if;
    if v_run.status not in ('failed', 'cancelled') then
        return v_run;
    end if;

    perform 1
    from pgflow.step_states as ss
    where ss.run_id = resume_run.run_id
    order by ss.step_slug
    for update;

    -- MAIN: the run goes on
    update pgflow.runs as r
    set status = 'started', failed_at = null, cancelled_at = null
    where r.run_id = resume_run.run_id
    returning r.* into v_run;

    perform pgflow._emit_event(
        'run:resumed',
        jsonb_build_object(
            'event_type', 'run:resumed',
            'run_id', v_run.run_id,
            'flow_slug', v_run.flow_slug,
            'status', v_run.status,
            'remaining_steps', v_run.remaining_steps
        )
    );

    -- steps that never started: created again
    update pgflow.step_states as ss
    set status = 'created', failed_at = null, error_message = null
    where
        ss.run_id = resume_run.run_id
        and ss.status in ('failed', 'cancelled')
        and ss.started_at is null;

    -- steps that started and did not finish: started again
    with restarted as (
        update pgflow.step_states as ss
        set
            status = 'started',
            failed_at = null,
            error_message = null,
            remaining_tasks = (
                select count(*)::int
                from pgflow.step_tasks as t
                where t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.status <> 'completed'
            )
        where
            ss.run_id = resume_run.run_id
            and (ss.status = 'started' or (ss.status in ('failed', 'cancelled') and ss.started_at is not null))
        returning
            ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at, ss.remaining_tasks, ss.remaining_deps
    )

    select
        pgflow._emit_events(
            array_agg('step:' || rs.step_slug || ':started' order by s.step_index),
            array_agg(
                jsonb_build_object(
                    'event_type', 'step:started',
                    'run_id', rs.run_id,
                    'step_slug', rs.step_slug,
                    'status', rs.status,
                    'started_at', rs.started_at,
                    'remaining_tasks', rs.remaining_tasks,
                    'remaining_deps', rs.remaining_deps
                )
                order by s.step_index
            )
        )
    into v_events
    from restarted as rs
    inner join pgflow.steps as s on s.flow_slug = rs.flow_slug and s.step_slug = rs.step_slug
    having count(*) > 0;

    -- their unfinished tasks (locked in key order): queued afresh, one new message each
    -- (pgmq.send_batch refuses an empty batch, hence the test of found)
    perform 1
    from pgflow.step_tasks as t
    inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
    where t.run_id = resume_run.run_id and ss.status = 'started' and t.status <> 'completed'
    order by t.step_slug, t.task_index
    for update of t;

    if found then
        with todo as (
            select
                t.flow_slug,
                t.step_slug,
                t.task_index,
                t.message_id as old_msg_id,
                row_number() over (order by t.step_slug, t.task_index) as pos
            from pgflow.step_tasks as t
            inner join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
            where t.run_id = resume_run.run_id and ss.status = 'started' and t.status <> 'completed'
        ),

        sent as (
            select m.msg_id, row_number() over (order by m.msg_id) as pos
            from pgmq.send_batch(
                v_run.flow_slug,
                array(
                    select
                        jsonb_build_object(
                            'flow_slug', td.flow_slug,
                            'run_id', resume_run.run_id,
                            'step_slug', td.step_slug,
                            'task_index', td.task_index
                        )
                    from todo as td
                    order by td.pos
                ),
                0
            ) as m (msg_id)
        ),

        requeued as (
            update pgflow.step_tasks as t
            set
                status = 'queued',
                message_id = se.msg_id,
                attempts_count = 0,
                error_message = null,
                output = null,
                queued_at = now(),
                started_at = null,
                completed_at = null,
                failed_at = null,
                last_worker_id = null,
                requeued_count = 0,
                last_requeued_at = null,
                permanently_stalled_at = null
            from todo as td
            inner join sent as se on se.pos = td.pos
            where
                t.run_id = resume_run.run_id
                and t.step_slug = td.step_slug
                and t.task_index = td.task_index
            returning td.old_msg_id
        )

        select
            coalesce(array_agg(rq.old_msg_id order by rq.old_msg_id) filter (where rq.old_msg_id is not null), '{}'),
            count(*)::int
        into v_old_msg_ids, v_requeued
        from requeued as rq;
    end if;

    -- the superseded messages: out of the queue (when still there) and of its archive
    if coalesce(cardinality(v_old_msg_ids), 0) > 0 then
        perform pgmq.delete(v_run.flow_slug, v_old_msg_ids);
        execute format('delete from pgmq.%I as a where a.msg_id = any($1)', pgmq.format_table_name(v_run.flow_slug, 'a'))
        using v_old_msg_ids;
    end if;

    -- scheduling, as start_flow: conditions, taskless steps, ready steps, completion
    loop
        if not pgflow.cascade_resolve_conditions(resume_run.run_id) then
            select * into v_run from pgflow.runs as r where r.run_id = resume_run.run_id;
            return v_run;
        end if;
        exit when pgflow.cascade_complete_taskless_steps(resume_run.run_id) = 0;
    end loop;
    perform pgflow.start_ready_steps(resume_run.run_id);
    perform pgflow.maybe_complete_run(resume_run.run_id);

    if v_requeued > 0 then
        perform pg_notify('pgflow_tasks', v_run.flow_slug);
    end if;

    select * into v_run from pgflow.runs as r where r.run_id = resume_run.run_id;
    return v_run;
end;
$$;

-- ==== sql/0100_function_resume_schedule.sql ====
-- pgflow.resume_schedule(schedule_slug): enables a paused schedule. Its next time is the first
-- match after now() (and after its last scheduled time): the times it missed while paused are
-- not caught up. Resuming an enabled schedule changes nothing. Returns the row.
-- Called by operators and the CLI.
-- Locks: the schedule row (FOR UPDATE, by the update). Raises `schedule "<slug>" does not exist`.
create or replace function pgflow.resume_schedule(schedule_slug text)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_schedule pgflow.schedules;
begin
    update pgflow.schedules as s
    set
        enabled = true,
        next_scheduled_start_time = case
            when s.enabled then s.next_scheduled_start_time
            else pgflow.cron_next(s.cron, greatest(now(), s.last_scheduled_for), s.timezone)
        end,
        updated_at = case when s.enabled then s.updated_at else greatest(now(), s.created_at) end
    where s.schedule_slug = resume_schedule.schedule_slug
    returning * into v_schedule;
    if v_schedule.schedule_slug is null then
        raise exception 'schedule % does not exist', coalesce('"' || resume_schedule.schedule_slug || '"', 'NULL');
    end if;
    return v_schedule;
end;
$$;

-- ==== sql/0100_function_retry_run.sql ====
-- pgflow.retry_run(run_id): starts a new run of a failed or cancelled run's flow with the same
-- input (pgflow.start_flow, so its events and scheduling are a new run's) and stores the link:
-- the new run's retry_of_run_id is the old run (pgflow.get_run_with_states shows it, and the old
-- run's "retried_by_run_id"). Beside the contract (run control). Returns the new run.
-- A run retried already returns its retry and starts nothing (a client that repeats the call
-- does not start two runs); to try again after the retry failed, retry the retry.
-- Example: select run_id from pgflow.retry_run('<run_id>');
-- Called by clients (pgflow retry <run_id>).
-- LOCKS: the old run row (FOR UPDATE: two concurrent retries start one run), then as start_flow.
-- Raises `Run <run_id> not found` (P0002); `Run <run_id> is <status>: only a failed or cancelled
-- run can be retried` (55000); what start_flow raises.
create or replace function pgflow.retry_run(run_id uuid)
returns pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_old pgflow.runs;
    v_new pgflow.runs;
begin
    -- GUARD + LOCKS: the old run
    select * into v_old
    from pgflow.runs as r
    where r.run_id = retry_run.run_id
    for update;

    if not found then
        raise exception 'Run % not found', retry_run.run_id using errcode = 'P0002';
    end if;
    if v_old.status not in ('failed', 'cancelled') then
        raise exception 'Run % is %: only a failed or cancelled run can be retried', retry_run.run_id, v_old.status
            using errcode = '55000';
    end if;

    select * into v_new
    from pgflow.runs as r
    where r.retry_of_run_id = retry_run.run_id
    order by r.started_at, r.run_id
    limit 1;
    if found then
        return v_new;
    end if;

    -- MAIN: a new run, then the link
    select * into v_new from pgflow.start_flow(v_old.flow_slug, v_old.input) as s;

    update pgflow.runs as r
    set retry_of_run_id = retry_run.run_id
    where r.run_id = v_new.run_id
    returning r.* into v_new;

    return v_new;
end;
$$;

-- ==== sql/0100_function_set_retry_policy.sql ====
-- pgflow.set_retry_policy(flow_slug, step_slug, retry_jitter, max_retry_delay): opt-in retry delay
-- options beside the contract's exponential formula (which stays the default), for a whole flow
-- (step_slug NULL) or one step (overriding its flow's). Both values are set as given: NULL
-- clears one (no jitter / no cap; for a step: the flow's).
--   retry_jitter: fraction in [0, 1]; a delay d becomes a random value in [d * (1 - j), d].
--   max_retry_delay: seconds, >= 0; a delay is at most this.
-- create_flow / add_step are the contract's and take no such parameters: call this after them
-- (again after a flow is recompiled: its rows are new). Returns nothing.
-- Example: select pgflow.set_retry_policy('greet', retry_jitter => 0.5, max_retry_delay => 300);
-- Called by clients and the pgflow-py DSL compiler.
-- Locks the flows or steps row it updates.
-- Raises `Flow <slug> does not exist`, `Step <slug> does not exist in flow <slug>`,
-- `retry_jitter must be between 0 and 1 (got <x>)`, `max_retry_delay must be >= 0 (got <n>)`.
create or replace function pgflow.set_retry_policy(
    flow_slug text,
    step_slug text default null,
    retry_jitter numeric default null,
    max_retry_delay integer default null
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    -- GUARD: values, then names
    if set_retry_policy.retry_jitter is not null
        and (set_retry_policy.retry_jitter < 0 or set_retry_policy.retry_jitter > 1) then
        raise exception 'retry_jitter must be between 0 and 1 (got %)', set_retry_policy.retry_jitter
            using errcode = '22023';
    end if;
    if set_retry_policy.max_retry_delay is not null and set_retry_policy.max_retry_delay < 0 then
        raise exception 'max_retry_delay must be >= 0 (got %)', set_retry_policy.max_retry_delay
            using errcode = '22023';
    end if;

    -- MAIN
    if set_retry_policy.step_slug is null then
        update pgflow.flows as f
        set opt_retry_jitter = set_retry_policy.retry_jitter, opt_max_retry_delay = set_retry_policy.max_retry_delay
        where f.flow_slug = set_retry_policy.flow_slug;
        if not found then
            raise exception 'Flow % does not exist', set_retry_policy.flow_slug using errcode = 'P0002';
        end if;
    else
        update pgflow.steps as s
        set opt_retry_jitter = set_retry_policy.retry_jitter, opt_max_retry_delay = set_retry_policy.max_retry_delay
        where s.flow_slug = set_retry_policy.flow_slug and s.step_slug = set_retry_policy.step_slug;
        if not found then
            if not exists (select 1 from pgflow.flows as f where f.flow_slug = set_retry_policy.flow_slug) then
                raise exception 'Flow % does not exist', set_retry_policy.flow_slug using errcode = 'P0002';
            end if;
            raise exception 'Step % does not exist in flow %', set_retry_policy.step_slug, set_retry_policy.flow_slug
                using errcode = 'P0002';
        end if;
    end if;
end;
$$;

-- ==== sql/0100_function_set_vt_batch.sql ====
-- pgflow.set_vt_batch(queue_name, msg_ids, vt_offsets): sets the visibility timeout of several
-- messages of one queue in a single UPDATE, pairing msg_ids[i] with vt_offsets[i]:
-- vt = clock_timestamp() + vt_offsets[i] seconds (read_ct unchanged). Returns the updated rows.
-- Called by start_tasks (vt = timeout + 2 s) and requeue_stalled_tasks (vt = now).
-- Locks the updated pgmq.q_<queue> rows. Raises `msg_ids length (<n>) must equal vt_offsets
-- length (<m>)`; an unknown queue raises 42P01 `relation "pgmq.q_<name>" does not exist`.
-- Either array NULL, or msg_ids empty -> empty result.
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
    if set_vt_batch.msg_ids is null or set_vt_batch.vt_offsets is null or cardinality(set_vt_batch.msg_ids) = 0 then
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

-- ==== sql/0100_function_setup_recovery_cron.sql ====
-- pgflow.setup_recovery_cron(cron_interval, heartbeat_timeout, function_name): (re)schedules the
-- pg_cron job
-- pgflow_recover_tasks, beside pgflow's pgflow_requeue_stalled_tasks (which it leaves as it is).
-- Not part of pgflow's API. Every cron_interval (default '5 seconds') the job runs
--   * heartbeat_timeout NULL (the default):  `select pgflow.fail_stalled_tasks()`;
--   * heartbeat_timeout given:  `select pgflow.requeue_dead_worker_tasks(heartbeat_timeout =>
--     '<heartbeat_timeout>'::interval, function_name => <function_name or NULL>); select
--     pgflow.fail_stalled_tasks()` (function_name: only workers registered under that name).
-- Dead-worker recovery is opt-in because it is only safe when every worker of the database
-- heartbeats while its handlers run (pgflow-py does; pgflow's TypeScript edge worker heartbeats
-- between batches, so its long handlers would be requeued while they run).
-- Idempotent: an existing job of that name is unscheduled first, so exactly one remains.
-- Called by operators, and once at install when pg_cron is present (0950_install_cron_jobs), with
-- the defaults. Returns `Scheduled pgflow_recover_tasks (every <interval>, job_id=<id>): <what it
-- runs>`. Not SECURITY DEFINER: the job runs as the role that calls this.
-- Locks: cron.job rows (via pg_cron). Raises `pg_cron is not installed: ...` without the cron
-- schema (plpgsql, so that the schema installs without pg_cron), and
-- `heartbeat_timeout must be a positive interval, got <value>`.
create or replace function pgflow.setup_recovery_cron(
    cron_interval text default '5 seconds', heartbeat_timeout interval default null, function_name text default null
)
returns text
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_job_id bigint;
    v_command text;
begin
    if to_regprocedure('cron.schedule(text,text,text)') is null or to_regprocedure('cron.unschedule(text)') is null then
        raise exception 'pg_cron is not installed: pgflow.setup_recovery_cron() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron)';
    end if;
    if setup_recovery_cron.heartbeat_timeout <= interval '0' then
        raise exception 'heartbeat_timeout must be a positive interval, got %', setup_recovery_cron.heartbeat_timeout;
    end if;

    -- A cron job is SQL text, so the values go in as literals: format's %L quotes the interval's
    -- canonical text and the function name (NULL becomes NULL).
    v_command := case
        when setup_recovery_cron.heartbeat_timeout is null then 'select pgflow.fail_stalled_tasks()'
        else format(
            'select pgflow.requeue_dead_worker_tasks(heartbeat_timeout => %L::interval, function_name => %L::text); '
            'select pgflow.fail_stalled_tasks()',
            setup_recovery_cron.heartbeat_timeout, setup_recovery_cron.function_name
        )
    end;

    -- pg_cron raises when the job does not exist: that is the normal first-install case
    begin
        perform cron.unschedule('pgflow_recover_tasks');
    exception when others then
        null;
    end;

    v_job_id := cron.schedule('pgflow_recover_tasks', setup_recovery_cron.cron_interval, v_command);

    return format(
        'Scheduled pgflow_recover_tasks (every %s, job_id=%s): %s',
        setup_recovery_cron.cron_interval, v_job_id, v_command
    );
end;
$$;

-- ==== sql/0100_function_setup_schedules_cron.sql ====
-- pgflow.setup_schedules_cron(): (re)schedules the pg_cron job pgflow_tick_schedules, every minute
-- (`* * * * *`, so at second 0, just after the times schedules name), running
-- `select pgflow.tick_schedules()`. Idempotent: an existing job of that name is unscheduled
-- first, so exactly one remains. Workers tick schedules too: running both is safe
-- (tick_schedules starts each scheduled time once).
-- Called by operators where pg_cron is installed (not at install time: schedules are opt-in).
-- Returns `Scheduled pgflow_tick_schedules (every minute, job_id=<id>)`. SECURITY DEFINER: the
-- job belongs to the owner.
-- Locks: cron.job rows (via pg_cron). Raises `pg_cron is not installed: ...` without the cron
-- schema (plpgsql, so that the schema installs without pg_cron).
create or replace function pgflow.setup_schedules_cron()
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
        raise exception 'pg_cron is not installed: pgflow.setup_schedules_cron() needs the cron schema '
            '(Supabase, or CREATE EXTENSION pg_cron); without it, workers tick schedules, or call '
            'pgflow.tick_schedules() from any timer';
    end if;

    -- pg_cron raises when the job does not exist: that is the normal first-install case
    begin
        perform cron.unschedule('pgflow_tick_schedules');
    exception when others then
        null;
    end;

    v_job_id := cron.schedule('pgflow_tick_schedules', '* * * * *', 'select pgflow.tick_schedules()');

    return format('Scheduled pgflow_tick_schedules (every minute, job_id=%s)', v_job_id);
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
-- (When the flow has no conditions its root single steps are inserted started, and
-- pgflow._start_ready_steps_of_runs does start_ready_steps' work and finishes them;
-- pgflow._start_one_step when that is one step and nothing else can be ready.)
-- Without run_id the run gets pgflow._time_ordered_uuid() (random, in time order: the indexes
-- keyed by run_id take new runs where the recent ones are, however long the history).
-- Called by clients and start_flow_with_states. The work is pgflow._start_flow's.
-- Locks the new run row (insert). Raises `Flow <slug> has root map steps but input is NULL`,
-- `Flow <slug> has root map steps but input is not an array (got <jsonb_typeof>)`; unknown flow
-- violates runs_flow_slug_fkey, NULL input on other flows the NOT NULL of runs.input.
create or replace function pgflow.start_flow(flow_slug text, input jsonb, run_id uuid default null)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
begin
    return query select * from pgflow._start_flow(start_flow.flow_slug, start_flow.input, start_flow.run_id);
end;
$$;

-- ==== sql/0100_function_start_flow_idempotent.sql ====
-- pgflow.start_flow_idempotent(flow_slug, input, idempotency_key): pgflow.start_flow, at most once
-- per (flow, key). Beside the contract (run control). The first call starts a run (start_flow)
-- and records the key (pgflow.run_idempotency_keys); every later call with the same flow and key
-- returns that run as it is now and starts nothing, also when the calls race from many
-- connections (the key is claimed by its primary key before the run starts: a racing call waits
-- for the first one's transaction, then returns its run; if that transaction rolled back, the
-- racing call starts the run). A key lives as long as its run (pgflow.prune_runs deletes both).
-- Example: select run_id from pgflow.start_flow_idempotent('greet', '{"first": "Ada"}', 'order-42');
-- Called by clients (pgflow start --idempotency-key K).
-- LOCKS: the key's row (insert, or wait on a concurrent insert of the same key), then as
-- start_flow.
-- Raises `idempotency_key must be a non-empty text` (22023); `Idempotency key <key> of flow <slug>
-- was used with a different input (run <run_id>)` (22023) when the key's run has another input;
-- `... names no run (pruned meanwhile?): call again` (40001) in the moment a prune deletes the key;
-- what start_flow raises (then the key is not recorded).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.start_flow_idempotent(flow_slug text, input jsonb, idempotency_key text)
returns setof pgflow.runs
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_run_id uuid := pgflow._time_ordered_uuid();
    v_claimed uuid;
    v_run pgflow.runs;
begin
    -- GUARD
    if start_flow_idempotent.idempotency_key is null or start_flow_idempotent.idempotency_key = '' then
        raise exception 'idempotency_key must be a non-empty text' using errcode = '22023';
    end if;

    -- LOCKS: claim the key (a concurrent claim of the same key waits here for the other's end)
    insert into pgflow.run_idempotency_keys (flow_slug, idempotency_key, run_id)
    values (start_flow_idempotent.flow_slug, start_flow_idempotent.idempotency_key, v_run_id)
    on conflict on constraint run_idempotency_keys_pkey do nothing
    returning run_idempotency_keys.run_id into v_claimed;

    -- MAIN: the first call starts the run under the run_id it claimed
    if v_claimed is not null then
        return query
        select * from pgflow.start_flow(start_flow_idempotent.flow_slug, start_flow_idempotent.input, v_claimed);
        return;
    end if;

    -- a later call: the key's run, which must have been started with the same input
    select r.* into v_run
    from pgflow.run_idempotency_keys as k
    inner join pgflow.runs as r on r.run_id = k.run_id
    where k.flow_slug = start_flow_idempotent.flow_slug and k.idempotency_key = start_flow_idempotent.idempotency_key;

    if v_run.run_id is null then
        raise exception 'Idempotency key % of flow % names no run (pruned meanwhile?): call again',
            start_flow_idempotent.idempotency_key, start_flow_idempotent.flow_slug
            using errcode = '40001';
    end if;
    if v_run.input is distinct from start_flow_idempotent.input then
        raise exception 'Idempotency key % of flow % was used with a different input (run %)',
            start_flow_idempotent.idempotency_key, start_flow_idempotent.flow_slug, v_run.run_id
            using errcode = '22023';
    end if;

    return next v_run;
end;
$$;

-- ==== sql/0100_function_start_ready_steps.sql ====
-- pgflow.start_ready_steps(run_id): starts every step of a started run that is ready, i.e.
-- status created, remaining_deps = 0 and initial_tasks > 0 (conditions are not evaluated here).
-- For each such step: status started, started_at, remaining_tasks = initial_tasks; one
-- pgflow._send_batch(flow_slug, msgs, coalesce(opt_start_delay, 0)) (pgmq.send_batch's rows, in
-- one statement) with one message per task ({"flow_slug","run_id","step_slug","task_index"},
-- task_index ascending); step_tasks rows inserted set-based, message ids paired with task indexes
-- by position; step:<slug>:started broadcast.
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
    v_inserted int;
begin
    -- GUARD: only started runs schedule work
    select r.flow_slug into v_flow_slug
    from pgflow.runs as r
    where r.run_id = start_ready_steps.run_id and r.status = 'started';

    if v_flow_slug is null then
        return;
    end if;

    -- Nothing ready (the common case after a task that does not finish its step): skip the
    -- statement below, whose plan is large, with one probe of idx_step_states_ready
    if not exists (
        select 1
        from pgflow.step_states as ss
        where
            ss.run_id = start_ready_steps.run_id
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and ss.initial_tasks > 0
    ) then
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
        -- one call for all the started steps' broadcasts, in step_index order
        select
            pgflow._emit_events(
                array_agg('step:' || ss.step_slug || ':started' order by ss.step_index),
                array_agg(
                    jsonb_build_object(
                        'event_type', 'step:started',
                        'run_id', ss.run_id,
                        'step_slug', ss.step_slug,
                        'status', ss.status,
                        'started_at', ss.started_at,
                        'remaining_tasks', ss.remaining_tasks,
                        'remaining_deps', ss.remaining_deps
                    )
                    order by ss.step_index
                )
            ) as emitted
        from started_steps as ss
        having count(*) > 0
    ),

    sent as (
        select
            ss.flow_slug,
            ss.run_id,
            ss.step_slug,
            m.msg_id,
            (row_number() over (partition by ss.step_slug order by m.msg_id) - 1)::int as task_index
        from started_steps as ss
        cross join lateral pgflow._send_batch(
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

    select (select count(*) from started_steps as ss where ss.start_delay = 0)::int, i.n::int
    into v_visible_now, v_inserted
    from (select count(*) as n from events) as e
    cross join (select count(*) as n from inserted) as i;

    -- Statistics for the workers' plans when a big map lands on a small table
    -- (its threshold checked here first: no call, no catalog read for the common small start)
    if v_inserted >= 1000 then
        perform pgflow._refresh_task_statistics(v_inserted);
    end if;

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
-- step started. Ids of queued tasks that are not eligible, and of no task, are ignored silently.
-- Where pgflow ignores the others too, here a message whose task is started (by another worker) is
-- hidden until that task's deadline and one whose task is finished is archived
-- (pgflow._park_unstartable_messages), so that it is not read again every visibility timeout.
-- Started tasks: attempts_count + 1, started_at now(), last_worker_id = worker_id (FK to
-- pgflow.workers: register the worker first). Their messages become invisible for
-- coalesce(step.opt_timeout, flow.opt_timeout) + 2 seconds (pgflow's intent; its own CTE for this
-- never ran, spec §13 quirk 1) via set_vt_batch, so a slow handler is not re-read mid-flight.
-- Inputs (§6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- The work is pgflow._start_tasks' (shared with pgflow.read_and_start_tasks).
-- Called by workers after pgmq.read_with_poll.
-- Locks the eligible step_tasks rows (ordered by run, step, task index) and their queue messages.
-- Raises nothing of its own (unknown worker_id violates step_tasks_last_worker_id_fkey).
create or replace function pgflow.start_tasks(flow_slug text, msg_ids bigint [], worker_id uuid)
returns setof pgflow.step_task_record
language plpgsql
volatile
set search_path = ''
as $$
begin
    return query
    select t.flow_slug, t.run_id, t.step_slug, t.input, t.msg_id, t.task_index, t.flow_input
    from pgflow._start_tasks(start_tasks.flow_slug, start_tasks.msg_ids, start_tasks.worker_id, true) as t;
end;
$$;

-- ==== sql/0100_function_tick_schedules.sql ====
-- pgflow.tick_schedules(now): starts the runs that schedules owe at `now` (default now(); a past
-- or future instant works too, for tests and backfills) and advances each schedule; returns one
-- row per run started (schedule_slug, run_id, scheduled_for), oldest scheduled time first per
-- schedule. Called every few seconds by workers, every minute by pg_cron (setup_schedules_cron),
-- or by any timer; any number of sessions may call it at once.
-- For each enabled schedule whose next_scheduled_start_time <= now:
--   * the due times: `latest` - only the most recent time <= now; `all` - every time <= now and
--     no older than now - catchup_window, oldest first (older ones are dropped);
--   * for each: nothing if a run of this schedule already exists for that time; nothing if
--     overlap_policy is `skip` and a run of this schedule is still `started`; otherwise
--     start_flow(flow_slug, input || {"scheduled_for": "<time, ISO 8601 UTC>"}), recorded in
--     schedule_runs (one row per schedule and time: each time starts at most once);
--   * next_scheduled_start_time := the first time after now; last_run_id/last_scheduled_for :=
--     the last run started.
-- A schedule whose start fails (its flow raises) is advanced all the same, with a WARNING naming
-- it and the error, so that it cannot hold the others back; its runs of this tick are undone.
-- Locks: the due schedule rows (FOR UPDATE SKIP LOCKED, in next_scheduled_start_time order: a
-- schedule another session is ticking is left to it, nothing waits), then what start_flow locks,
-- then the new schedule_runs rows.
-- Raises `tick_schedules: now is NULL`.
create or replace function pgflow.tick_schedules(now timestamptz default now())
returns table (schedule_slug text, run_id uuid, scheduled_for timestamptz)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_now timestamptz := tick_schedules.now;
    v_schedule pgflow.schedules;
    v_times timestamptz[];
    v_time timestamptz;
    v_low timestamptz;
    v_high timestamptz;
    v_mid timestamptz;
    v_run_id uuid;
    v_started_runs uuid[];
    v_started_times timestamptz[];
begin
    if v_now is null then
        raise exception 'tick_schedules: now is NULL';
    end if;

    -- LOCKS: claim every due schedule nobody else is ticking
    for v_schedule in
        select s.*
        from pgflow.schedules as s
        where s.enabled and s.next_scheduled_start_time <= v_now
        order by s.next_scheduled_start_time, s.schedule_slug
        for update skip locked
    loop
        -- MAIN: the due times
        if v_schedule.catchup_policy = 'all' then
            v_time := v_schedule.next_scheduled_start_time;
            if v_time < v_now - v_schedule.catchup_window then
                v_time := pgflow.cron_next(
                    v_schedule.cron, v_now - v_schedule.catchup_window - interval '1 microsecond', v_schedule.timezone
                );
            end if;
            v_times := '{}'::timestamptz[];
            while v_time <= v_now loop
                v_times := v_times || v_time;
                v_time := pgflow.cron_next(v_schedule.cron, v_time, v_schedule.timezone);
            end loop;
        else
            -- latest: the last time <= now, by binary search on the instant to search after, keeping
            -- cron_next(v_low) <= now < cron_next(v_high); fire times are whole minutes, so once the
            -- two are less than a minute apart, cron_next(v_low) is it. A year of downtime: ~20 steps.
            v_low := v_schedule.next_scheduled_start_time - interval '1 microsecond';
            v_high := v_now;
            while v_high - v_low >= interval '1 minute' loop
                v_mid := v_low + (v_high - v_low) / 2;
                if pgflow.cron_next(v_schedule.cron, v_mid, v_schedule.timezone) <= v_now then
                    v_low := v_mid;
                else
                    v_high := v_mid;
                end if;
            end loop;
            v_times := array[pgflow.cron_next(v_schedule.cron, v_low, v_schedule.timezone)];
        end if;

        v_started_runs := '{}'::uuid[];
        v_started_times := '{}'::timestamptz[];
        begin
            foreach v_time in array v_times loop
                continue when exists (
                    select 1
                    from pgflow.schedule_runs as sr
                    where sr.schedule_slug = v_schedule.schedule_slug and sr.scheduled_for = v_time
                );
                continue when v_schedule.overlap_policy = 'skip' and exists (
                    select 1
                    from pgflow.runs as r
                    inner join pgflow.schedule_runs as sr on sr.run_id = r.run_id
                    where r.status = 'started' and sr.schedule_slug = v_schedule.schedule_slug
                );
                select r.run_id into v_run_id
                from pgflow.start_flow(
                    v_schedule.flow_slug,
                    v_schedule.input || jsonb_build_object(
                        'scheduled_for', to_char(v_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                    )
                ) as r;
                insert into pgflow.schedule_runs (schedule_slug, scheduled_for, run_id)
                values (v_schedule.schedule_slug, v_time, v_run_id);
                v_started_runs := v_started_runs || v_run_id;
                v_started_times := v_started_times || v_time;
            end loop;
        exception when others then
            raise warning 'tick_schedules: schedule "%" (flow "%") could not start its run: % (SQLSTATE %)',
                v_schedule.schedule_slug, v_schedule.flow_slug, sqlerrm, sqlstate;
            v_started_runs := '{}'::uuid[];
            v_started_times := '{}'::timestamptz[];
        end;

        update pgflow.schedules as s
        set
            next_scheduled_start_time = pgflow.cron_next(s.cron, v_now, s.timezone),
            last_run_id = coalesce(v_started_runs[cardinality(v_started_runs)], s.last_run_id),
            last_scheduled_for = coalesce(v_started_times[cardinality(v_started_times)], s.last_scheduled_for),
            updated_at = greatest(pg_catalog.now(), s.created_at)
        where s.schedule_slug = v_schedule.schedule_slug;

        return query
        select v_schedule.schedule_slug, t.run_id, t.scheduled_for
        from unnest(v_started_runs, v_started_times) as t (run_id, scheduled_for);
    end loop;
end;
$$;

-- ==== sql/0100_function_update_schedule.sql ====
-- pgflow.update_schedule(schedule_slug, flow_slug, cron, input, timezone, overlap_policy,
-- catchup_policy, catchup_window, enabled): changes the settings given (a NULL argument keeps the
-- current value) and returns the row. When the expression or the zone changes, or the schedule is
-- enabled again, next_scheduled_start_time becomes the first match after now() (and after the
-- last scheduled time): times missed while it was disabled are not caught up.
-- Called by operators, the CLI and the DSL when a flow's schedule changes.
-- Locks: the schedule row (FOR UPDATE; waits for a tick_schedules holding it).
-- Raises `schedule "<slug>" does not exist`, and what _check_schedule raises for the new settings;
-- nothing is written then.
create or replace function pgflow.update_schedule(
    schedule_slug text,
    flow_slug text default null,
    cron text default null,
    input jsonb default null,
    timezone text default null,
    overlap_policy text default null,
    catchup_policy text default null,
    catchup_window interval default null,
    enabled boolean default null
)
returns pgflow.schedules
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_old pgflow.schedules;
    v_new pgflow.schedules;
begin
    -- LOCKS
    select s.* into v_old from pgflow.schedules as s where s.schedule_slug = update_schedule.schedule_slug for update;
    if v_old.schedule_slug is null then
        raise exception 'schedule % does not exist', coalesce('"' || update_schedule.schedule_slug || '"', 'NULL');
    end if;

    -- GUARD
    v_new := v_old;
    v_new.flow_slug := coalesce(update_schedule.flow_slug, v_old.flow_slug);
    v_new.cron := coalesce(update_schedule.cron, v_old.cron);
    v_new.input := coalesce(update_schedule.input, v_old.input);
    v_new.timezone := coalesce(update_schedule.timezone, v_old.timezone);
    v_new.overlap_policy := coalesce(update_schedule.overlap_policy, v_old.overlap_policy);
    v_new.catchup_policy := coalesce(update_schedule.catchup_policy, v_old.catchup_policy);
    v_new.catchup_window := coalesce(update_schedule.catchup_window, v_old.catchup_window);
    v_new.enabled := coalesce(update_schedule.enabled, v_old.enabled);
    perform pgflow._check_schedule(
        v_new.schedule_slug, v_new.flow_slug, v_new.cron, v_new.input, v_new.timezone, v_new.overlap_policy,
        v_new.catchup_policy, v_new.catchup_window
    );

    -- MAIN
    if v_new.cron <> v_old.cron or v_new.timezone <> v_old.timezone or (v_new.enabled and not v_old.enabled) then
        v_new.next_scheduled_start_time := pgflow.cron_next(
            v_new.cron, greatest(now(), v_old.last_scheduled_for), v_new.timezone
        );
    end if;

    update pgflow.schedules as s
    set
        flow_slug = v_new.flow_slug,
        cron = v_new.cron,
        input = v_new.input,
        timezone = v_new.timezone,
        overlap_policy = v_new.overlap_policy,
        catchup_policy = v_new.catchup_policy,
        catchup_window = v_new.catchup_window,
        enabled = v_new.enabled,
        next_scheduled_start_time = v_new.next_scheduled_start_time,
        updated_at = greatest(now(), s.created_at)
    where s.schedule_slug = v_old.schedule_slug
    returning * into v_new;
    return v_new;
end;
$$;

-- ==== sql/0110_function_grant_starter.sql ====
-- pgflow.grant_starter(role): grants an existing role what an application that starts runs
-- needs: start_flow, start_flow_idempotent, start_flow_with_states, and reading runs (their
-- tables, get_run_with_states). It cannot read or start tasks, complete or fail them, define
-- flows, cancel runs or delete anything.
-- Returns the statements run. Idempotent: call it again after defining a flow (its queue is
-- granted then) or after upgrading pgflow. See pgflow._grant_role for the exact grants; it also
-- revokes PUBLIC's execute on pgflow's writing SECURITY DEFINER functions.
-- Example: create role app_starter login password '...'; select * from pgflow.grant_starter('app_starter');
-- Called by an administrator (the owner of the pgflow and pgmq objects, or a superuser).
-- Locks nothing. Raises 42704 for a role that does not exist; 42501 for a caller who may not grant.
create or replace function pgflow.grant_starter(role name)
returns setof text
language sql
volatile
set search_path = ''
as $$
    select g.statement from pgflow._grant_role(grant_starter.role, 'starter') as g (statement);
$$;

-- ==== sql/0110_function_grant_viewer.sql ====
-- pgflow.grant_viewer(role): grants an existing role read-only access: select on every pgflow
-- table, get_run_with_states, and each flow queue's depth (what `pgflow ui --read-only`,
-- `pgflow status` and `pgflow inspect` read). It writes nothing.
-- Returns the statements run. Idempotent: call it again after defining a flow (its queue is
-- granted then) or after upgrading pgflow. See pgflow._grant_role for the exact grants; it also
-- revokes PUBLIC's execute on pgflow's writing SECURITY DEFINER functions.
-- Example: create role app_viewer login password '...'; select * from pgflow.grant_viewer('app_viewer');
-- Called by an administrator (the owner of the pgflow and pgmq objects, or a superuser).
-- Locks nothing. Raises 42704 for a role that does not exist; 42501 for a caller who may not grant.
create or replace function pgflow.grant_viewer(role name)
returns setof text
language sql
volatile
set search_path = ''
as $$
    select g.statement from pgflow._grant_role(grant_viewer.role, 'viewer') as g (statement);
$$;

-- ==== sql/0110_function_grant_worker.sql ====
-- pgflow.grant_worker(role): grants an existing role what a worker needs: read and start its
-- tasks, complete and fail them (batched too), extend a task's timeout, register and heartbeat,
-- its maintenance sweeps (requeue_stalled_tasks, requeue_dead_worker_tasks), verify a compiled
-- flow, and pgmq on every flow's queue. It cannot define flows, start, cancel, retry or prune
-- runs, or delete anything of pgflow. A worker connecting as this role runs with --compile verify
-- or auto (auto only verifies a flow that exists: creating one needs the owner).
-- Returns the statements run. Idempotent: call it again after defining a flow (its queue is
-- granted then) or after upgrading pgflow. See pgflow._grant_role for the exact grants; it also
-- revokes PUBLIC's execute on pgflow's writing SECURITY DEFINER functions.
-- Example: create role app_worker login password '...'; select * from pgflow.grant_worker('app_worker');
-- Called by an administrator (the owner of the pgflow and pgmq objects, or a superuser).
-- Locks nothing. Raises 42704 for a role that does not exist; 42501 for a caller who may not grant.
create or replace function pgflow.grant_worker(role name)
returns setof text
language sql
volatile
set search_path = ''
as $$
    select g.statement from pgflow._grant_role(grant_worker.role, 'worker') as g (statement);
$$;

-- ==== sql/0950_install_cron_jobs.sql ====
-- Install-time scheduling (pgflow does this in its schema and migrations): the stall requeue
-- every 15 seconds and worker management every second; beside them, pgflow-py's
-- pgflow_recover_tasks (pgflow.fail_stalled_tasks every 5 seconds; dead-worker recovery is opt-in,
-- see pgflow.setup_recovery_cron). Only where pg_cron (or a stand-in with
-- cron.schedule) is present when the schema is installed; on plain PostgreSQL this does nothing
-- and the jobs can be scheduled later with pgflow.setup_requeue_stalled_tasks_cron() and
-- pgflow.setup_ensure_workers_cron() (and pgflow.setup_recovery_cron()).
-- A job pg_cron refuses (pg_cron before 1.5 takes no `N seconds` intervals) is reported with a
-- NOTICE naming the setup call to run with a cron expression, and the install goes on.
do $$
declare
    v_setup text;
begin
    if to_regprocedure('cron.schedule(text,text,text)') is not null then
        foreach v_setup in array array[
            'select pgflow.setup_requeue_stalled_tasks_cron()',
            'select pgflow.setup_ensure_workers_cron(''1 second'')',
            'select pgflow.setup_recovery_cron()'
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
