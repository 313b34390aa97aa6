-- pgflow.complete_tasks_count(run_ids, step_slugs, task_indexes, outputs): a worker reports several
-- task results in one call (one round trip, one transaction). Not part of pgflow's API: beside
-- pgflow.complete_task, whose effect it has for every item (item i is (run_ids[i], step_slugs[i],
-- task_indexes[i], outputs[i]), applied in (run_id, step_slug, task_index) order); returns the
-- number of distinct known tasks among the items (unknown ones: not counted; a task given twice:
-- once). The work is pgflow._complete_tasks'; pgflow.complete_tasks is the same with the rows read
-- back, pgflow.complete_tasks_and_claim the same handing the worker the tasks it makes ready.
-- Called by pgflow-py's worker when it does not claim (and by any client).
-- Locks and raises as pgflow._complete_tasks: `run_ids, step_slugs, task_indexes and outputs must
-- have the same length (<a>, <b>, <c>, <d>)`; whatever complete_task raises (then nothing of the
-- batch is applied).
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow.complete_tasks_count(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb []
)
returns int
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
begin
    return (
        select c.known
        from pgflow._complete_tasks(
            complete_tasks_count.run_ids, complete_tasks_count.step_slugs,
            complete_tasks_count.task_indexes, complete_tasks_count.outputs, null, 0
        ) as c
    );
end;
$$;
