-- pgflow._archive_run_messages(run_id): archives the pgmq messages of every queued or started
-- task of a run (all steps) in ONE pgmq.archive(queue, bigint[]) call; returns how many messages
-- were archived.
-- Called wherever a run fails: complete_task (type violation), fail_task,
-- cascade_resolve_conditions. Task rows keep their status: only the messages go, so no worker can
-- pick up work of a failed run.
-- Locks nothing itself (pgmq deletes the queue rows). Raises nothing; unknown run -> 0.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._archive_run_messages(run_id uuid)
returns int
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_flow_slug text;
    v_msg_ids bigint[];
    v_count int;
begin
    select r.flow_slug into v_flow_slug
    from pgflow.runs as r
    where r.run_id = _archive_run_messages.run_id;

    select coalesce(array_agg(st.message_id order by st.message_id), '{}') into v_msg_ids
    from pgflow.step_tasks as st
    where
        st.run_id = _archive_run_messages.run_id
        and st.status in ('queued', 'started')
        and st.message_id is not null;

    if v_flow_slug is null or cardinality(v_msg_ids) = 0 then
        return 0;
    end if;

    select count(*)::int into v_count from pgmq.archive(v_flow_slug, v_msg_ids) as a;
    return v_count;
end;
$$;
