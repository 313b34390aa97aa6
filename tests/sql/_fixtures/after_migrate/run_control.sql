-- pgflow_tests helpers for the run control tests (cancel_run, retry_run, resume_run,
-- start_flow_idempotent, prune_runs, extend_task_timeout, fail_task_with_delay). Prefix rctl_.

-- Everything a caller can observe of a run, rows whole: the run, its step states and tasks, its
-- messages in the queue (with vt and read_ct) and in the archive, and its events. Two equal
-- snapshots mean nothing changed.
create or replace function pgflow_tests.rctl_snapshot(run_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_flow text;
    v_queue jsonb;
    v_archive jsonb;
begin
    select r.flow_slug into v_flow from pgflow.runs as r where r.run_id = rctl_snapshot.run_id;
    execute format(
        'select coalesce(jsonb_agg(to_jsonb(q) order by q.msg_id), ''[]'') from pgmq.%I as q '
        'where q.message ->> ''run_id'' = $1',
        pgmq.format_table_name(v_flow, 'q')
    ) into v_queue using rctl_snapshot.run_id::text;
    execute format(
        'select coalesce(jsonb_agg(to_jsonb(a) order by a.msg_id), ''[]'') from pgmq.%I as a '
        'where a.message ->> ''run_id'' = $1',
        pgmq.format_table_name(v_flow, 'a')
    ) into v_archive using rctl_snapshot.run_id::text;
    return jsonb_build_object(
        'run', (select to_jsonb(r) from pgflow.runs as r where r.run_id = rctl_snapshot.run_id),
        'steps', (
            select jsonb_agg(to_jsonb(ss) order by ss.step_slug)
            from pgflow.step_states as ss where ss.run_id = rctl_snapshot.run_id
        ),
        'tasks', (
            select jsonb_agg(to_jsonb(st) order by st.step_slug, st.task_index)
            from pgflow.step_tasks as st where st.run_id = rctl_snapshot.run_id
        ),
        'queue', v_queue,
        'archive', v_archive,
        'events', (select count(*) from pgflow_tests.run_events(rctl_snapshot.run_id))
    );
end;
$$;

-- Status counts of a run's tasks, as 'status:n' sorted by status (e.g. {completed:37,queued:63}).
create or replace function pgflow_tests.rctl_task_statuses(run_id uuid, step_slug text default null)
returns text []
language sql
set search_path = ''
as $$
    select coalesce(array_agg(s.status || ':' || s.n order by s.status), '{}')
    from (
        select st.status, count(*) as n
        from pgflow.step_tasks as st
        where st.run_id = rctl_task_statuses.run_id
            and (rctl_task_statuses.step_slug is null or st.step_slug = rctl_task_statuses.step_slug)
        group by st.status
    ) as s;
$$;

-- Messages of a run in its flow's queue that a worker could read now.
create or replace function pgflow_tests.rctl_visible(run_id uuid)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_flow text;
    v_n int;
begin
    select r.flow_slug into v_flow from pgflow.runs as r where r.run_id = rctl_visible.run_id;
    execute format(
        'select count(*)::int from pgmq.%I as q where q.message ->> ''run_id'' = $1 and q.vt <= clock_timestamp()',
        pgmq.format_table_name(v_flow, 'q')
    ) into v_n using rctl_visible.run_id::text;
    return v_n;
end;
$$;

-- Completes every started task of a run with output = its task_index * 10 (a map element's
-- "handler"), round after round, until nothing is started or queued. Returns the number of tasks
-- completed.
create or replace function pgflow_tests.rctl_finish(run_id uuid)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_n int := 0;
    v_rounds int := 0;
    v_task record;
begin
    loop
        perform pgflow_tests.rc_start_all(rctl_finish.run_id);
        v_rounds := v_rounds + 1;
        exit when v_rounds > 20 or not exists (
            select 1 from pgflow.step_tasks as st where st.run_id = rctl_finish.run_id and st.status = 'started'
        );
        for v_task in
            select st.step_slug, st.task_index
            from pgflow.step_tasks as st
            where st.run_id = rctl_finish.run_id and st.status = 'started'
            order by st.step_slug, st.task_index
        loop
            perform 1 from pgflow.complete_task(
                rctl_finish.run_id, v_task.step_slug, v_task.task_index, to_jsonb(v_task.task_index * 10)
            );
            v_n := v_n + 1;
        end loop;
    end loop;
    return v_n;
end;
$$;
