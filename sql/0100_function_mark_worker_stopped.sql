-- pgflow.mark_worker_stopped(worker_id): records a graceful worker shutdown.
-- Called by a worker on shutdown; ensure_workers then counts that worker as dead.
-- Sets workers.stopped_at = clock_timestamp() (wall-clock time, like heartbeats). An unknown
-- worker_id changes nothing.
-- Locks: that workers row. Raises nothing.
create or replace function pgflow.mark_worker_stopped(worker_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    update pgflow.workers as w
    set stopped_at = clock_timestamp()
    where w.worker_id = mark_worker_stopped.worker_id;
end;
$$;
