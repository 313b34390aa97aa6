-- Generated from sql/optional/pgflow_testing/ by scripts/gen_migration.py: edit those files, then regenerate.
-- Optional: not applied by `pgflow migrate` (use `pgflow migrate --with-testing`, or apply this file).
-- Idempotent: safe to apply again.

-- ==== sql/optional/pgflow_testing/0010_schema_pgflow_testing.sql ====
-- pgflow_testing: helpers for testing flows from SQL (pgTAP, supabase test db). Optional: not part
-- of the pgflow migrations; `pgflow migrate --with-testing` installs it, or apply
-- migrations/optional/pgflow_testing.sql yourself. Every file of this schema is idempotent, so the
-- script can be applied again after an upgrade. Do not install it on a production database: its
-- functions complete and fail tasks as if a worker had run them.
create schema if not exists pgflow_testing;

comment on schema pgflow_testing is
'Test helpers: complete_next, fail_next and run_to_completion play the worker for a flow (optional install).';

-- ==== sql/optional/pgflow_testing/0100_function__start_next.sql ====
-- pgflow_testing._start_next(flow_slug, step_slug, run_id): starts the next queued task of a flow,
-- as a worker would (pgflow.start_tasks), and returns it; a row of NULLs when there is none.
-- "Next" is the task whose queue message would be read first (earliest vt, then msg_id), whether
-- or not it is visible yet: start delays and retry back-off are skipped, which is what a test wants.
-- Only tasks whose run and step are started qualify; step_slug and run_id narrow the choice.
-- The task is started by the worker pgflow_testing registers for the flow's queue (a fixed id per
-- flow, function_name 'pgflow_testing'), so it shows in pgflow.workers like any other.
-- Called by complete_next, fail_next and run_to_completion.
-- Locks the chosen step_tasks row (for update skip locked), then what pgflow.start_tasks locks.
-- Raises when the flow does not exist.
create or replace function pgflow_testing._start_next(
    flow_slug text,
    step_slug text default null,
    run_id uuid default null
)
returns pgflow.step_task_record
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_worker_id uuid := md5('pgflow_testing:' || _start_next.flow_slug)::uuid;
    v_msg_id bigint;
    v_task pgflow.step_task_record;
begin
    -- GUARD: a flow that exists (its queue table is named after it)
    if not exists (select 1 from pgflow.flows as f where f.flow_slug = _start_next.flow_slug) then
        raise exception 'pgflow_testing: flow "%" does not exist', _start_next.flow_slug
            using errcode = 'P0002';
    end if;

    insert into pgflow.workers (worker_id, queue_name, function_name)
    values (v_worker_id, _start_next.flow_slug, 'pgflow_testing')
    on conflict (worker_id) do update set last_heartbeat_at = now(), stopped_at = null;

    -- LOCKS: the chosen task only
    execute format(
        'select st.message_id
         from pgflow.step_tasks as st
         join pgmq.%I as q on q.msg_id = st.message_id
         join pgflow.runs as r on r.run_id = st.run_id
         join pgflow.step_states as ss on ss.run_id = st.run_id and ss.step_slug = st.step_slug
         where st.flow_slug = $1 and st.status = ''queued'' and r.status = ''started''
             and ss.status = ''started'' and ($2::text is null or st.step_slug = $2)
             and ($3::uuid is null or st.run_id = $3)
         order by q.vt, q.msg_id
         limit 1
         for update of st skip locked',
        pgmq.format_table_name(_start_next.flow_slug, 'q')
    ) into v_msg_id using _start_next.flow_slug, _start_next.step_slug, _start_next.run_id;

    if v_msg_id is null then
        return v_task;
    end if;

    -- MAIN: start it as a worker would
    select t.flow_slug, t.run_id, t.step_slug, t.input, t.msg_id, t.task_index, t.flow_input
    into v_task
    from pgflow.start_tasks(_start_next.flow_slug, array[v_msg_id], v_worker_id) as t;
    return v_task;
end;
$$;

-- ==== sql/optional/pgflow_testing/0110_function_complete_next.sql ====
-- pgflow_testing.complete_next(flow_slug, output, step_slug, run_id): plays the worker for one task:
-- starts the flow's next queued task (see pgflow_testing._start_next: delays are skipped) and
-- completes it with `output` through pgflow.complete_task. For a map step, `output` is that one
-- element's output. step_slug and run_id (both optional) say which task must be next.
-- Returns the completed task's pgflow.step_tasks row.
-- Called by pgTAP tests.
-- Locks what _start_next and pgflow.complete_task lock.
-- Raises when the flow does not exist or has no queued task (matching the filters).
create or replace function pgflow_testing.complete_next(
    flow_slug text,
    output jsonb,
    step_slug text default null,
    run_id uuid default null
)
returns pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_task pgflow.step_task_record;
    v_row pgflow.step_tasks;
begin
    v_task := pgflow_testing._start_next(complete_next.flow_slug, complete_next.step_slug, complete_next.run_id);
    if v_task.msg_id is null then
        raise exception using
            errcode = 'P0002',
            message = format(
                'pgflow_testing.complete_next: no queued task in flow "%s"%s%s',
                complete_next.flow_slug,
                coalesce(' for step "' || complete_next.step_slug || '"', ''),
                coalesce(' in run ' || complete_next.run_id::text, '')
            );
    end if;
    select * into v_row
    from pgflow.complete_task(v_task.run_id, v_task.step_slug, v_task.task_index, complete_next.output);
    return v_row;
end;
$$;

-- ==== sql/optional/pgflow_testing/0110_function_fail_next.sql ====
-- pgflow_testing.fail_next(flow_slug, error_message, step_slug, run_id): plays the worker for one
-- task that fails: starts the flow's next queued task (see pgflow_testing._start_next: delays are
-- skipped) and reports `error_message` through pgflow.fail_task, which retries it (while attempts
-- remain: the retry is the next task again, its back-off skipped) or fails its step and run.
-- step_slug and run_id (both optional) say which task must be next.
-- Returns the failed task's pgflow.step_tasks row (status queued again when it will be retried).
-- Called by pgTAP tests.
-- Locks what _start_next and pgflow.fail_task lock.
-- Raises when the flow does not exist or has no queued task (matching the filters).
create or replace function pgflow_testing.fail_next(
    flow_slug text,
    error_message text,
    step_slug text default null,
    run_id uuid default null
)
returns pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_task pgflow.step_task_record;
    v_row pgflow.step_tasks;
begin
    v_task := pgflow_testing._start_next(fail_next.flow_slug, fail_next.step_slug, fail_next.run_id);
    if v_task.msg_id is null then
        raise exception using
            errcode = 'P0002',
            message = format(
                'pgflow_testing.fail_next: no queued task in flow "%s"%s%s',
                fail_next.flow_slug,
                coalesce(' for step "' || fail_next.step_slug || '"', ''),
                coalesce(' in run ' || fail_next.run_id::text, '')
            );
    end if;
    select * into v_row
    from pgflow.fail_task(v_task.run_id, v_task.step_slug, v_task.task_index, fail_next.error_message);
    return v_row;
end;
$$;

-- ==== sql/optional/pgflow_testing/0120_function_run_to_completion.sql ====
-- pgflow_testing.run_to_completion(flow_slug, input, outputs): starts a run of the flow with
-- `input` and plays the worker for each of its tasks, in queue order (delays skipped), until no
-- queued task of the run is left; returns the run's pgflow.runs row (status completed or failed;
-- still started only when a task of the run is held by someone else, e.g. a real worker).
-- `outputs` is a JSON object keyed by step slug; a step's value says what its tasks do:
--   * any JSON value: the output of the (single) step;
--   * for a map step, a JSON array: one output per element, in order (its length must be the
--     number of elements; the step's output is that array);
--   * {"$function": "schema.fn"}: call schema.fn(jsonb) returning jsonb with the task's input
--     (a root single step: the run input; a dependent single step: {dep_slug: output, ...};
--     a map task: its element) and complete the task with the result;
--   * {"$error": "message"}: fail every attempt with that message (the step fails once its
--     attempts are used up, or is skipped as its when_exhausted says).
-- Called by pgTAP tests.
-- Locks what pgflow.start_flow, _start_next, complete_task and fail_task lock, one task at a time.
-- Raises when outputs is not an object, names a step the flow does not have, lacks the step of a
-- task that is reached, or gives a map step something else than an array of the right length, a
-- $function or an $error; when a $function does not exist.
create or replace function pgflow_testing.run_to_completion(
    flow_slug text,
    input jsonb,
    outputs jsonb default '{}'
)
returns pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_unknown text;
    v_run pgflow.runs;
    v_task pgflow.step_task_record;
    v_spec jsonb;
    v_step_type text;
    v_tasks int;
    v_fn regprocedure;
    v_output jsonb;
begin
    -- GUARD: outputs is an object naming only steps of the flow
    if jsonb_typeof(run_to_completion.outputs) is distinct from 'object' then
        raise exception 'pgflow_testing.run_to_completion: outputs must be a JSON object keyed by step slug, got %',
            coalesce(jsonb_typeof(run_to_completion.outputs), 'NULL')
            using errcode = '22023';
    end if;
    select string_agg(format('"%s"', k.key), ', ' order by k.key) into v_unknown
    from jsonb_object_keys(run_to_completion.outputs) as k (key)
    where not exists (
        select 1 from pgflow.steps as s
        where s.flow_slug = run_to_completion.flow_slug and s.step_slug = k.key
    );
    if v_unknown is not null then
        raise exception 'pgflow_testing.run_to_completion: outputs names steps that flow "%" does not have: %',
            run_to_completion.flow_slug, v_unknown
            using errcode = '22023';
    end if;

    -- MAIN: start the run, then one task at a time until none of the run is queued
    select * into v_run from pgflow.start_flow(run_to_completion.flow_slug, run_to_completion.input);
    loop
        v_task := pgflow_testing._start_next(run_to_completion.flow_slug, null, v_run.run_id);
        exit when v_task.msg_id is null;

        v_spec := run_to_completion.outputs -> v_task.step_slug;
        if v_spec is null then
            raise exception 'pgflow_testing.run_to_completion: outputs has no entry for step "%" of flow "%"',
                v_task.step_slug, run_to_completion.flow_slug
                using errcode = '22023';
        end if;
        select s.step_type into v_step_type
        from pgflow.steps as s
        where s.flow_slug = run_to_completion.flow_slug and s.step_slug = v_task.step_slug;

        if jsonb_typeof(v_spec) = 'object' and v_spec ? '$error' and v_spec - '$error' = '{}'::jsonb then
            perform pgflow.fail_task(v_task.run_id, v_task.step_slug, v_task.task_index, v_spec ->> '$error');
            continue;
        end if;

        if jsonb_typeof(v_spec) = 'object' and v_spec ? '$function' and v_spec - '$function' = '{}'::jsonb then
            v_fn := to_regprocedure((v_spec ->> '$function') || '(jsonb)');
            if v_fn is null then
                raise exception 'pgflow_testing.run_to_completion: step "%": no function %(jsonb)',
                    v_task.step_slug, v_spec ->> '$function'
                    using errcode = '42883';
            end if;
            execute format('select %s($1)::jsonb', v_fn::oid::regproc)
            into v_output
            using coalesce(v_task.flow_input, v_task.input);
        elsif v_step_type = 'map' then
            select ss.initial_tasks into v_tasks
            from pgflow.step_states as ss
            where ss.run_id = v_task.run_id and ss.step_slug = v_task.step_slug;
            if jsonb_typeof(v_spec) <> 'array' or jsonb_array_length(v_spec) <> v_tasks then
                raise exception 'pgflow_testing.run_to_completion: map step "%" has % elements: its outputs entry '
                    'must be an array of % outputs (or {"$function": ...}, {"$error": ...}), got %',
                    v_task.step_slug, v_tasks, v_tasks, left(v_spec::text, 200)
                    using errcode = '22023';
            end if;
            v_output := v_spec -> v_task.task_index;
        else
            v_output := v_spec;
        end if;
        perform pgflow.complete_task(v_task.run_id, v_task.step_slug, v_task.task_index, v_output);
    end loop;

    select * into v_run from pgflow.runs as r where r.run_id = v_run.run_id;
    return v_run;
end;
$$;
