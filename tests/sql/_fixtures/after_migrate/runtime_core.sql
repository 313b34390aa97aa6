-- pgflow_tests helpers for the runtime core tests (start_flow, start_ready_steps, start_tasks,
-- complete_task, cascade_complete_taskless_steps, ...). Prefix rc_ = "runtime core".
create schema if not exists pgflow_tests;

-- Number of messages in a flow's queue table (visible or not).
create or replace function pgflow_tests.rc_queue_count(queue_name text)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_count int;
begin
    execute format('select count(*)::int from pgmq.%I', pgmq.format_table_name(rc_queue_count.queue_name, 'q'))
    into v_count;
    return v_count;
end;
$$;

-- Number of messages in a flow's archive table.
create or replace function pgflow_tests.rc_archive_count(queue_name text)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_count int;
begin
    execute format('select count(*)::int from pgmq.%I', pgmq.format_table_name(rc_archive_count.queue_name, 'a'))
    into v_count;
    return v_count;
end;
$$;

-- One queue message (visible or not) by id: vt and body.
create or replace function pgflow_tests.rc_message(queue_name text, msg_id bigint)
returns table (vt timestamptz, message jsonb, read_ct int)
language plpgsql
set search_path = ''
as $$
begin
    return query execute format(
        'select q.vt, q.message, q.read_ct::int from pgmq.%I as q where q.msg_id = $1',
        pgmq.format_table_name(rc_message.queue_name, 'q')
    ) using rc_message.msg_id;
end;
$$;

-- Starts every queued task of a run (whatever the visibility of its message) as a worker would,
-- by calling start_tasks with their message ids.
create or replace function pgflow_tests.rc_start_all(run_id uuid)
returns setof pgflow.step_task_record
language plpgsql
set search_path = ''
as $$
declare
    v_flow text;
    v_ids bigint[];
begin
    select r.flow_slug into v_flow from pgflow.runs as r where r.run_id = rc_start_all.run_id;
    perform pgflow_tests.ensure_worker(v_flow);
    select coalesce(array_agg(st.message_id order by st.message_id), '{}') into v_ids
    from pgflow.step_tasks as st
    where st.run_id = rc_start_all.run_id and st.status = 'queued';
    return query
    select * from pgflow.start_tasks(v_flow, v_ids, '11111111-1111-1111-1111-111111111111'::uuid);
end;
$$;

-- Starts the queued task(s) of one step and completes them with the given output (task_index
-- order); returns the number completed.
create or replace function pgflow_tests.rc_run_step(run_id uuid, step_slug text, output jsonb)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_count int;
begin
    perform pgflow_tests.rc_start_all(rc_run_step.run_id);
    select count(*)::int into v_count
    from (
        select pgflow.complete_task(st.run_id, st.step_slug, st.task_index, rc_run_step.output)
        from pgflow.step_tasks as st
        where st.run_id = rc_run_step.run_id and st.step_slug = rc_run_step.step_slug and st.status = 'started'
        order by st.task_index
    ) as c;
    return v_count;
end;
$$;

-- Events of a run as "event" strings only, in emission order.
create or replace function pgflow_tests.rc_event_names(run_id uuid)
returns text[]
language sql
set search_path = ''
as $$
    select coalesce(array_agg(e.event), '{}') from pgflow_tests.run_events(rc_event_names.run_id) as e;
$$;
