-- pgflow_tests helpers for the failure, retry, condition and skip tests
-- (tests/sql/fail_task, cascade_resolve_conditions, _cascade_force_skip_steps).
create schema if not exists pgflow_tests;

-- Every message still in a flow's queue table, visible or not (pgmq.q_<flow>), by msg_id.
create or replace function pgflow_tests.queue_messages(queue_name text)
returns table (msg_id bigint, read_ct int, enqueued_at timestamptz, vt timestamptz, message jsonb)
language plpgsql
set search_path = ''
as $$
begin
    return query execute format(
        'select q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message from pgmq.%I as q order by q.msg_id',
        pgmq.format_table_name(queue_messages.queue_name, 'q')
    );
end;
$$;

-- Message ids in a flow's archive table (pgmq.a_<flow>), ascending.
create or replace function pgflow_tests.archived_msg_ids(queue_name text)
returns setof bigint
language plpgsql
set search_path = ''
as $$
begin
    return query execute format(
        'select a.msg_id from pgmq.%I as a order by a.msg_id',
        pgmq.format_table_name(archived_msg_ids.queue_name, 'a')
    );
end;
$$;

-- Seconds between now (clock) and the visibility time of a task's message, rounded to whole
-- seconds: the delay set by the last set_vt, measured independently of when it was enqueued.
create or replace function pgflow_tests.task_vt_in(run_id uuid, step_slug text, task_index int default 0)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_flow text;
    v_msg bigint;
    v_vt timestamptz;
begin
    select t.flow_slug, t.message_id into v_flow, v_msg
    from pgflow.step_tasks as t
    where t.run_id = task_vt_in.run_id and t.step_slug = task_vt_in.step_slug and t.task_index = task_vt_in.task_index;
    select q.vt into v_vt from pgflow_tests.queue_messages(v_flow) as q where q.msg_id = v_msg;
    return round(extract(epoch from v_vt - clock_timestamp()))::int;
end;
$$;

-- Sorted keys of an event payload, without the "id" key the realtime stand-in adds.
create or replace function pgflow_tests.payload_keys(payload jsonb)
returns text[]
language sql
immutable
set search_path = ''
as $$
    select coalesce(array_agg(k order by k), '{}') from jsonb_object_keys(payload_keys.payload - 'id') as k;
$$;

-- The run's event names, in emission order.
create or replace function pgflow_tests.event_names(run_id uuid)
returns text[]
language sql
set search_path = ''
as $$
    select coalesce(array_agg(e.event order by e.ord), '{}')
    from pgflow_tests.run_events(event_names.run_id) with ordinality as e (event, payload, ord);
$$;
