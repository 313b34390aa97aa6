-- pgflow.is_valid_slug(slug): true iff slug is a usable flow or step identifier.
-- Used by the slug CHECK constraints of flows and steps, so it must exist before the tables.
-- Rule: non-NULL, non-empty, at most 128 characters, ^[a-zA-Z_][a-zA-Z0-9_]*$, and not 'run'
-- (reserved: older step inputs used a "run" key). Raises nothing.
create or replace function pgflow.is_valid_slug(slug text)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
    return slug is not null
        and slug <> ''
        and length(slug) <= 128
        and slug ~ '^[a-zA-Z_][a-zA-Z0-9_]*$'
        and slug <> 'run';
end;
$$;
