-- pgflow_tests helpers for the ops tests (requeue_stalled_tasks and friends). Named so that it
-- loads after pgflow_tests.sql, which creates the schema.

-- Pretends the started tasks of a step began `seconds` ago (a worker that died then): moves
-- started_at back, and queued_at with it where needed (started_at_is_after_queued_at).
create or replace function pgflow_tests.ops_backdate_started(run_id uuid, step_slug text, seconds int)
returns int
language plpgsql
set search_path = ''
as $$
declare
    v_count int;
begin
    update pgflow.step_tasks as t
    set
        started_at = now() - make_interval(secs => ops_backdate_started.seconds),
        queued_at = least(t.queued_at, now() - make_interval(secs => ops_backdate_started.seconds))
    where
        t.run_id = ops_backdate_started.run_id
        and t.step_slug = ops_backdate_started.step_slug
        and t.status = 'started';
    get diagnostics v_count = row_count;
    return v_count;
end;
$$;

-- Where a message is: 'visible' / 'hidden' in the queue table, 'archived', or 'gone'.
create or replace function pgflow_tests.ops_message_state(queue_name text, msg_id bigint)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_vt timestamptz;
begin
    execute format('select q.vt from pgmq.%I as q where q.msg_id = $1', pgmq.format_table_name(ops_message_state.queue_name, 'q'))
    into v_vt using ops_message_state.msg_id;
    if v_vt is not null then
        return case when v_vt <= clock_timestamp() then 'visible' else 'hidden' end;
    end if;
    execute format('select a.archived_at from pgmq.%I as a where a.msg_id = $1', pgmq.format_table_name(ops_message_state.queue_name, 'a'))
    into v_vt using ops_message_state.msg_id;
    return case when v_vt is not null then 'archived' else 'gone' end;
end;
$$;
