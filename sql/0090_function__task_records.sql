-- pgflow._task_records(p_flow_slug, msg_ids): what the handlers of started tasks need, for the
-- tasks of the flow whose message_id is in msg_ids and whose status is started: the columns of
-- pgflow.step_task_record plus the task's attempts_count, one row per task, ordered by msg_id.
-- Inputs (spec section 6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- Called by pgflow._start_tasks and pgflow.complete_tasks_and_claim. Locks nothing; raises nothing.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._task_records(p_flow_slug text, msg_ids bigint [])
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int
)
language plpgsql
stable
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
begin
    return query
    select
        st.flow_slug,
        st.run_id,
        st.step_slug,
        case
            when s.step_type = 'map' and s.deps_count = 0 then r.input -> st.task_index
            when s.step_type = 'map' then (
                select dss.output -> st.task_index
                from pgflow.deps as d
                inner join pgflow.step_states as dss on dss.run_id = st.run_id and dss.step_slug = d.dep_slug
                where d.flow_slug = st.flow_slug and d.step_slug = st.step_slug
                limit 1
            )
            else coalesce(
                (
                    select jsonb_object_agg(d.dep_slug, dss.output)
                    from pgflow.deps as d
                    inner join pgflow.step_states as dss on dss.run_id = st.run_id and dss.step_slug = d.dep_slug
                    where
                        d.flow_slug = st.flow_slug
                        and d.step_slug = st.step_slug
                        and dss.status = 'completed'
                ),
                '{}'::jsonb
            )
        end as input,
        st.message_id as msg_id,
        st.task_index,
        case when s.step_type = 'single' and s.deps_count = 0 then r.input end as flow_input,
        st.attempts_count
    from pgflow.step_tasks as st
    inner join pgflow.runs as r on r.run_id = st.run_id
    inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
    where
        st.flow_slug = _task_records.p_flow_slug
        and st.message_id = any(_task_records.msg_ids)
        and st.status = 'started'
    order by st.message_id;
end;
$$;
