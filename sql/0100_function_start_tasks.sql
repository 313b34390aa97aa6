-- pgflow.start_tasks(flow_slug, msg_ids, worker_id): second phase of polling. For the messages a
-- worker read from the flow's queue, starts the tasks that may run and returns what their handlers
-- need (one pgflow.step_task_record per started task, ordered by msg_id).
-- Eligible: step_tasks of this flow whose message_id is in msg_ids, status queued, run started and
-- step started. Ids of queued tasks that are not eligible, and of no task, are ignored silently.
-- Where pgflow ignores the others too, here a message whose task is started (by another worker) is
-- hidden until that task's deadline and one whose task is finished is archived
-- (pgflow._park_unstartable_messages), so that it is not read again every visibility timeout.
-- Started tasks: attempts_count + 1, started_at now(), last_worker_id = worker_id (FK to
-- pgflow.workers: register the worker first). Their messages become invisible for
-- coalesce(step.opt_timeout, flow.opt_timeout) + 2 seconds (pgflow's intent; its own CTE for this
-- never ran, spec §13 quirk 1) via set_vt_batch, so a slow handler is not re-read mid-flight.
-- Inputs (§6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- The work is pgflow._start_tasks' (shared with pgflow.read_and_start_tasks).
-- Called by workers after pgmq.read_with_poll.
-- Locks the eligible step_tasks rows (ordered by run, step, task index) and their queue messages.
-- Raises nothing of its own (unknown worker_id violates step_tasks_last_worker_id_fkey).
create or replace function pgflow.start_tasks(flow_slug text, msg_ids bigint [], worker_id uuid)
returns setof pgflow.step_task_record
language plpgsql
volatile
set search_path = ''
as $$
begin
    return query
    select t.flow_slug, t.run_id, t.step_slug, t.input, t.msg_id, t.task_index, t.flow_input
    from pgflow._start_tasks(start_tasks.flow_slug, start_tasks.msg_ids, start_tasks.worker_id, true) as t;
end;
$$;
