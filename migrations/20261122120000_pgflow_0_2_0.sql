-- Generated from sql/ by scripts/gen_migration.py: edit sql/, then regenerate. Do not edit.

-- ==== sql/0080_function_schema_version.sql ====
-- pgflow.schema_version(): the version of this schema, an integer that grows by one with every
-- release that changes sql/. The Python client and worker refuse to run against a database whose
-- schema is older (run `pgflow migrate`) or newer (upgrade pgflow-py) than they understand.
create or replace function pgflow.schema_version()
returns int
language sql
immutable
set search_path = ''
as $$
    select 2;
$$;
