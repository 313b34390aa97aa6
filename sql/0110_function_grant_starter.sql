-- pgflow.grant_starter(role): grants an existing role what an application that starts runs
-- needs: start_flow, start_flow_idempotent, start_flow_with_states, and reading runs (their
-- tables, get_run_with_states). It cannot read or start tasks, complete or fail them, define
-- flows, cancel runs or delete anything.
-- Returns the statements run. Idempotent: call it again after defining a flow (its queue is
-- granted then) or after upgrading pgflow. See pgflow._grant_role for the exact grants; it also
-- revokes PUBLIC's execute on pgflow's writing SECURITY DEFINER functions.
-- Example: create role app_starter login password '...'; select * from pgflow.grant_starter('app_starter');
-- Called by an administrator (the owner of the pgflow and pgmq objects, or a superuser).
-- Locks nothing. Raises 42704 for a role that does not exist; 42501 for a caller who may not grant.
create or replace function pgflow.grant_starter(role name)
returns setof text
language sql
volatile
set search_path = ''
as $$
    select g.statement from pgflow._grant_role(grant_starter.role, 'starter') as g (statement);
$$;
