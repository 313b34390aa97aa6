-- pgflow._archive_task_message(p_run_id, p_step_slug, p_task_index): moves one task's pgmq message
-- to the archive of the run's flow queue.
-- Called by complete_task and fail_task (late callbacks, finished tasks).
-- No-op when the task does not exist or has no message (message_id NULL), or when the message
-- was archived already. Locks nothing itself (pgmq deletes the queue row). Raises nothing.
create or replace function pgflow._archive_task_message(p_run_id uuid, p_step_slug text, p_task_index int)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform pgmq.archive(st.flow_slug, st.message_id)
    from pgflow.step_tasks as st
    where
        st.run_id = _archive_task_message.p_run_id
        and st.step_slug = _archive_task_message.p_step_slug
        and st.task_index = _archive_task_message.p_task_index
        and st.message_id is not null;
end;
$$;
