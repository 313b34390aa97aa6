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
