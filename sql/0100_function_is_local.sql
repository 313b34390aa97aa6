-- pgflow.is_local(): true when this database is a Supabase CLI local stack.
-- Called by ensure_workers (local: ping every enabled function at http://kong:8000) and
-- ensure_flow_compiled (local: recompile a mismatching flow instead of refusing it).
-- Detection: the GUC app.settings.jwt_secret (read with missing_ok) equals the Supabase CLI's
-- built-in development secret; unset, empty or any other value means "not local".
-- Locks nothing. Raises nothing.
create or replace function pgflow.is_local()
returns boolean
language sql
stable
parallel safe
set search_path = ''
as $$
    select coalesce(current_setting('app.settings.jwt_secret', true), '')
        = 'super-secret-jwt-token-with-at-least-32-characters-long';
$$;
