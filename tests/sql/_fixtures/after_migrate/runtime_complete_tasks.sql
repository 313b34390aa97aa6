-- Helpers for tests/sql/complete_tasks: drive a run to its end with complete_task one task at a
-- time or with complete_tasks batches, and snapshot everything a caller can observe of it.

-- Starts every queued task of the run and completes every started one, round after round, until
-- nothing is left to do. Output of a task: outputs ->> step_slug when given, else its task_index.
-- batched: one complete_tasks call per round (tasks in reverse key order, to show the function
-- sorts them); else complete_task per task in key order.
create or replace function pgflow_tests.ctb_drive(run_id uuid, outputs jsonb, batched boolean)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_rounds int := 0;
    v_runs uuid[];
    v_steps text[];
    v_idx int[];
    v_out jsonb[];
begin
    loop
        perform pgflow_tests.rc_start_all(ctb_drive.run_id);
        select
            array_agg(st.run_id order by st.step_slug desc, st.task_index desc),
            array_agg(st.step_slug order by st.step_slug desc, st.task_index desc),
            array_agg(st.task_index order by st.step_slug desc, st.task_index desc),
            array_agg(
                coalesce(ctb_drive.outputs -> st.step_slug, to_jsonb(st.task_index))
                order by st.step_slug desc, st.task_index desc
            )
        into v_runs, v_steps, v_idx, v_out
        from pgflow.step_tasks as st
        where st.run_id = ctb_drive.run_id and st.status = 'started';
        exit when v_runs is null;
        v_rounds := v_rounds + 1;
        if v_rounds > 20 then
            raise exception 'ctb_drive: run % does not finish', ctb_drive.run_id;
        end if;
        if ctb_drive.batched then
            perform 1 from pgflow.complete_tasks(v_runs, v_steps, v_idx, v_out);
        else
            for i in reverse cardinality(v_runs)..1 loop  -- key order
                perform 1 from pgflow.complete_task(v_runs[i], v_steps[i], v_idx[i], v_out[i]);
            end loop;
        end if;
    end loop;
    return v_rounds;
end;
$$;

-- What a caller can see of a run (ids and timestamps left out): run, step states, tasks, event
-- names (sorted: a batch may interleave events of independent steps differently, see
-- complete_tasks), the last event, messages left in the queue and in the archive.
create or replace function pgflow_tests.ctb_snapshot(run_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_flow text;
    v_queue_left int;
    v_archived int;
    v_mismatched int;
begin
    select r.flow_slug into v_flow from pgflow.runs as r where r.run_id = ctb_snapshot.run_id;
    execute format(
        'select count(*) from pgmq.%I as q where q.message ->> ''run_id'' = $1', 'q_' || lower(v_flow)
    ) into v_queue_left using ctb_snapshot.run_id::text;
    execute format(
        'select count(*) from pgmq.%I as a where a.message ->> ''run_id'' = $1', 'a_' || lower(v_flow)
    ) into v_archived using ctb_snapshot.run_id::text;
    -- every task's message (queued or archived) names that task
    execute format(
        $sql$
        select count(*)
        from pgflow.step_tasks as st
        left join (
            select q.msg_id, q.message from pgmq.%I as q
            union all
            select a.msg_id, a.message from pgmq.%I as a
        ) as m on m.msg_id = st.message_id
        where
            st.run_id = $1
            and m.message is distinct from jsonb_build_object(
                'flow_slug', st.flow_slug, 'run_id', st.run_id, 'step_slug', st.step_slug, 'task_index', st.task_index
            )
        $sql$,
        'q_' || lower(v_flow), 'a_' || lower(v_flow)
    ) into v_mismatched using ctb_snapshot.run_id;
    return jsonb_build_object(
        'messages_not_matching_their_task', v_mismatched,
        'run', (
            select jsonb_build_object('status', r.status, 'output', r.output, 'remaining_steps', r.remaining_steps)
            from pgflow.runs as r where r.run_id = ctb_snapshot.run_id
        ),
        'steps', (
            select jsonb_agg(jsonb_build_object(
                'step', ss.step_slug, 'status', ss.status, 'output', ss.output, 'remaining_tasks', ss.remaining_tasks,
                'remaining_deps', ss.remaining_deps, 'initial_tasks', ss.initial_tasks,
                'skip_reason', ss.skip_reason, 'error_message', ss.error_message
            ) order by ss.step_slug)
            from pgflow.step_states as ss where ss.run_id = ctb_snapshot.run_id
        ),
        'tasks', (
            select jsonb_agg(jsonb_build_object(
                'step', st.step_slug, 'task', st.task_index, 'status', st.status, 'output', st.output,
                'error_message', st.error_message
            ) order by st.step_slug, st.task_index)
            from pgflow.step_tasks as st where st.run_id = ctb_snapshot.run_id
        ),
        'events_sorted', (
            select jsonb_agg(e.name order by e.name) from unnest(pgflow_tests.rc_event_names(ctb_snapshot.run_id)) as e (name)
        ),
        'last_event', (pgflow_tests.rc_event_names(ctb_snapshot.run_id))[
            cardinality(pgflow_tests.rc_event_names(ctb_snapshot.run_id))
        ],
        'queue_left', v_queue_left,
        'archived', v_archived
    );
end;
$$;

-- Two runs of the flow with the same input, one driven task by task, one in batches: their
-- snapshots must be equal. Returns the two snapshots (for the test's message).
create or replace function pgflow_tests.ctb_compare(flow_slug text, input jsonb, outputs jsonb)
returns table (one_by_one jsonb, batched jsonb, events_one_by_one text [], events_batched text [])
language plpgsql
set search_path = ''
as $$
declare
    v_a uuid;
    v_b uuid;
begin
    select r.run_id into v_a from pgflow.start_flow(ctb_compare.flow_slug, ctb_compare.input) as r;
    perform pgflow_tests.ctb_drive(v_a, ctb_compare.outputs, false);
    select r.run_id into v_b from pgflow.start_flow(ctb_compare.flow_slug, ctb_compare.input) as r;
    perform pgflow_tests.ctb_drive(v_b, ctb_compare.outputs, true);
    return query select
        pgflow_tests.ctb_snapshot(v_a), pgflow_tests.ctb_snapshot(v_b),
        pgflow_tests.rc_event_names(v_a), pgflow_tests.rc_event_names(v_b);
end;
$$;

-- Drives every run of a flow together: each round starts all queued tasks of the flow and
-- completes all started ones with one complete_tasks call (tasks of several runs per batch).
create or replace function pgflow_tests.ctb_drive_flow(flow_slug text, outputs jsonb)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_rounds int := 0;
    v_run uuid;
    v_runs uuid[];
    v_steps text[];
    v_idx int[];
    v_out jsonb[];
begin
    loop
        for v_run in
            select r.run_id from pgflow.runs as r where r.flow_slug = ctb_drive_flow.flow_slug order by r.run_id
        loop
            perform pgflow_tests.rc_start_all(v_run);
        end loop;
        select
            array_agg(st.run_id order by st.run_id desc, st.step_slug, st.task_index),
            array_agg(st.step_slug order by st.run_id desc, st.step_slug, st.task_index),
            array_agg(st.task_index order by st.run_id desc, st.step_slug, st.task_index),
            array_agg(
                coalesce(ctb_drive_flow.outputs -> st.step_slug, to_jsonb(st.task_index))
                order by st.run_id desc, st.step_slug, st.task_index
            )
        into v_runs, v_steps, v_idx, v_out
        from pgflow.step_tasks as st
        where st.flow_slug = ctb_drive_flow.flow_slug and st.status = 'started';
        exit when v_runs is null;
        v_rounds := v_rounds + 1;
        if v_rounds > 20 then
            raise exception 'ctb_drive_flow: runs of % do not finish', ctb_drive_flow.flow_slug;
        end if;
        perform 1 from pgflow.complete_tasks(v_runs, v_steps, v_idx, v_out);
    end loop;
    return v_rounds;
end;
$$;
