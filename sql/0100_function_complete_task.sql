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
