-- pgflow.grant_worker(role): grants an existing role what a worker needs: read and start its
-- tasks, complete and fail them (batched too), extend a task's timeout, register and heartbeat,
-- its maintenance sweeps (requeue_stalled_tasks, requeue_dead_worker_tasks), verify a compiled
-- flow, and pgmq on every flow's queue. It cannot define flows, start, cancel, retry or prune
-- runs, or delete anything of pgflow. A worker connecting as this role runs with --compile verify
-- or auto (auto only verifies a flow that exists: creating one needs the owner).
-- Returns the statements run. Idempotent: call it again after defining a flow (its queue is
-- granted then) or after upgrading pgflow. See pgflow._grant_role for the exact grants; it also
-- revokes PUBLIC's execute on pgflow's writing SECURITY DEFINER functions.
-- Example: create role app_worker login password '...'; select * from pgflow.grant_worker('app_worker');
-- Called by an administrator (the owner of the pgflow and pgmq objects, or a superuser).
-- Locks nothing. Raises 42704 for a role that does not exist; 42501 for a caller who may not grant.
create or replace function pgflow.grant_worker(role name)
returns setof text
language sql
volatile
set search_path = ''
as $$
    select g.statement from pgflow._grant_role(grant_worker.role, 'worker') as g (statement);
$$;
