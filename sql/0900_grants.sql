-- Privileges: nothing in schema pgflow is reachable by PUBLIC; grant what your roles need.
revoke all on schema pgflow from public;
