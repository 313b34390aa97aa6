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
