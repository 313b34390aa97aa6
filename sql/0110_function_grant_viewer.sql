-- pgflow.grant_viewer(role): grants an existing role read-only access: select on every pgflow
-- table, get_run_with_states, and each flow queue's depth (what `pgflow ui --read-only`,
-- `pgflow status` and `pgflow inspect` read). It writes nothing.
-- Returns the statements run. Idempotent: call it again after defining a flow (its queue is
-- granted then) or after upgrading pgflow. See pgflow._grant_role for the exact grants; it also
-- revokes PUBLIC's execute on pgflow's writing SECURITY DEFINER functions.
-- Example: create role app_viewer login password '...'; select * from pgflow.grant_viewer('app_viewer');
-- Called by an administrator (the owner of the pgflow and pgmq objects, or a superuser).
-- Locks nothing. Raises 42704 for a role that does not exist; 42501 for a caller who may not grant.
create or replace function pgflow.grant_viewer(role name)
returns setof text
language sql
volatile
set search_path = ''
as $$
    select g.statement from pgflow._grant_role(grant_viewer.role, 'viewer') as g (statement);
$$;
