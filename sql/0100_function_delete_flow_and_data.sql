-- pgflow.delete_flow_and_data(p_flow_slug): removes a flow completely: its pgmq queue (messages
-- and archive), then its tasks, step states, runs, dependencies, steps and the flow row, in
-- FK-safe order. A flow without a queue, or an unknown flow, is not an error.
-- Called by ensure_flow_compiled to recompile a changed flow, and by operators/tests.
-- Locks: the flows row first (FOR UPDATE, so a concurrent start_flow/add_step waits or fails
-- cleanly), then the deleted rows. Raises nothing of its own.
create or replace function pgflow.delete_flow_and_data(p_flow_slug text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform 1 from pgflow.flows as f where f.flow_slug = delete_flow_and_data.p_flow_slug for update;

    -- pgmq < 1.5.2 raises on a missing queue: drop only a queue that exists
    if exists (select 1 from pgmq.list_queues() as q where q.queue_name = delete_flow_and_data.p_flow_slug) then
        perform pgmq.drop_queue(delete_flow_and_data.p_flow_slug);
    end if;

    delete from pgflow.step_tasks as t where t.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.step_states as ss where ss.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.runs as r where r.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.deps as d where d.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.steps as s where s.flow_slug = delete_flow_and_data.p_flow_slug;
    delete from pgflow.flows as f where f.flow_slug = delete_flow_and_data.p_flow_slug;
end;
$$;
