-- pgflow.complete_tasks(run_ids, step_slugs, task_indexes, outputs): pgflow.complete_tasks_count's
-- batch (same effect: pgflow.complete_task for every item, in (run_id, step_slug, task_index)
-- order, in one transaction), then the final step_tasks row of every known item (unknown items: no
-- row; a task given twice: one row). Not part of pgflow's API: beside pgflow.complete_task.
-- Called by pgflow-py's clients (PgflowSqlClient.complete_tasks).
-- Locks as pgflow.complete_tasks_count.
-- Raises `run_ids, step_slugs, task_indexes and outputs must have the same length (<a>, <b>, <c>, <d>)`;
-- whatever complete_task raises (then nothing of the batch is applied).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.complete_tasks(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb []
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
begin
    perform pgflow.complete_tasks_count(
        complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes, complete_tasks.outputs
    );

    return query
    select st.*
    from pgflow.step_tasks as st
    where (st.run_id, st.step_slug, st.task_index) in (
        select u.run_id, u.step_slug, u.task_index
        from unnest(complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes)
            as u (run_id, step_slug, task_index)
    );
end;
$$;
