-- pgflow.poll_for_tasks(...): DEPRECATED single-phase polling entry point, kept so that old workers
-- fail loudly instead of with "function does not exist". Emits a NOTICE and returns no rows.
-- Workers use the two-phase protocol: pgmq.read_with_poll(...) then pgflow.start_tasks(...).
-- Locks nothing. Raises nothing.
create or replace function pgflow.poll_for_tasks(
    queue_name text,
    vt integer,
    qty integer,
    max_poll_seconds integer default 5,
    poll_interval_ms integer default 100
)
returns setof pgflow.step_task_record
language plpgsql
volatile
set search_path = ''
as $$
begin
    raise notice 'pgflow.poll_for_tasks is deprecated and returns no tasks: upgrade your worker to '
        'read messages with pgmq.read_with_poll and start them with pgflow.start_tasks';
    return;
end;
$$;
