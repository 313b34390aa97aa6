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
