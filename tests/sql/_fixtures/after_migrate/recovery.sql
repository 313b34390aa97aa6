-- pgflow_tests helpers for the recovery tests (requeue_dead_worker_tasks, fail_stalled_tasks, the
-- parking of messages that start_tasks cannot start). Named so that it loads after pgflow_tests.sql.

-- Pretends `seconds` have passed for a flow's tasks and messages: moves every timestamp of its
-- step_tasks and its queue rows' enqueued_at and vt back by that much (so deadlines computed from
-- started_at and visibility computed from vt fall due as they would), without waiting.
create or replace function pgflow_tests.rcv_time_passes(flow_slug text, seconds int)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_delta interval := make_interval(secs => rcv_time_passes.seconds);
begin
    update pgflow.step_tasks as t
    set
        queued_at = t.queued_at - v_delta,
        started_at = t.started_at - v_delta,
        completed_at = t.completed_at - v_delta,
        failed_at = t.failed_at - v_delta
    where t.flow_slug = rcv_time_passes.flow_slug;
    execute format(
        'update pgmq.%I as q set enqueued_at = q.enqueued_at - $1, vt = q.vt - $1',
        pgmq.format_table_name(rcv_time_passes.flow_slug, 'q')
    ) using v_delta;
end;
$$;

-- Pretends a worker's last heartbeat was `seconds` ago (a worker that died then).
create or replace function pgflow_tests.rcv_heartbeat_ago(worker_id uuid, seconds int)
returns void
language sql
set search_path = ''
as $$
    update pgflow.workers as w
    set last_heartbeat_at = clock_timestamp() - make_interval(secs => rcv_heartbeat_ago.seconds)
    where w.worker_id = rcv_heartbeat_ago.worker_id;
$$;

-- read_ct of one message of a flow's queue (NULL when it is no longer in the queue).
create or replace function pgflow_tests.rcv_read_ct(queue_name text, msg_id bigint)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_read_ct int;
begin
    execute format('select q.read_ct from pgmq.%I as q where q.msg_id = $1', pgmq.format_table_name(rcv_read_ct.queue_name, 'q'))
    into v_read_ct using rcv_read_ct.msg_id;
    return v_read_ct;
end;
$$;

-- vt of one message of a flow's queue (NULL when it is no longer in the queue).
create or replace function pgflow_tests.rcv_vt(queue_name text, msg_id bigint)
returns timestamptz
language plpgsql
set search_path = ''
as $$
declare
    v_vt timestamptz;
begin
    execute format('select q.vt from pgmq.%I as q where q.msg_id = $1', pgmq.format_table_name(rcv_vt.queue_name, 'q'))
    into v_vt using rcv_vt.msg_id;
    return v_vt;
end;
$$;
