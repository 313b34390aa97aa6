-- pgflow.ensure_workers(): pings the edge functions in worker_functions over pg_net so that each
-- has a worker running. Called every second by the cron job pgflow_ensure_workers.
--
-- Local (is_local()): every enabled function is pinged at http://kong:8000/functions/v1/<name>
-- with empty headers. Production: credentials come from vault (auth key = the first non-empty
-- of secrets pgflow_auth_secret, supabase_service_role_key; base URL =
-- https://<secret supabase_project_id>.supabase.co/functions/v1), and an enabled function is
-- pinged only when it was not pinged within its debounce and has no alive worker (a workers row
-- with its function_name, not stopped, not deprecated, heartbeat within the debounce). Missing
-- or empty secrets: nothing is pinged and no row is returned.
-- Each ping: net.http_post(url, headers, body '{}'), last_invoked_at = clock_timestamp(), and
-- one output row (function_name, true, request_id).
--
-- Locks: the chosen worker_functions rows (FOR UPDATE SKIP LOCKED, so that overlapping cron
-- runs do not ping a function twice).
-- Raises: `pg_net is not installed: ...` without net.http_post; in production
-- `supabase_vault is not installed: ...` without vault.decrypted_secrets. Written in plpgsql so
-- that the schema installs without pg_net and vault (references bind at first call).
create or replace function pgflow.ensure_workers()
returns table (function_name text, invoked boolean, request_id bigint)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_local boolean := pgflow.is_local();
    v_base_url text;
    v_auth_key text;
    v_headers jsonb;
begin
    -- GUARD: the optional integrations this function needs
    if not exists (
        select 1
        from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        where n.nspname = 'net' and p.proname = 'http_post'
    ) then
        raise exception 'pg_net is not installed: pgflow.ensure_workers() needs net.http_post '
            '(Supabase, or CREATE EXTENSION pg_net)';
    end if;

    -- credentials
    if v_local then
        v_base_url := 'http://kong:8000/functions/v1';
        v_headers := '{}'::jsonb;
    else
        if to_regclass('vault.decrypted_secrets') is null then
            raise exception 'supabase_vault is not installed: pgflow.ensure_workers() needs '
                'vault.decrypted_secrets for its credentials (Supabase, or CREATE EXTENSION supabase_vault)';
        end if;

        select
            coalesce(
                nullif(max(ds.decrypted_secret) filter (where ds.name = 'pgflow_auth_secret'), ''),
                nullif(max(ds.decrypted_secret) filter (where ds.name = 'supabase_service_role_key'), '')
            ),
            'https://'
            || nullif(max(ds.decrypted_secret) filter (where ds.name = 'supabase_project_id'), '')
            || '.supabase.co/functions/v1'
        into v_auth_key, v_base_url
        from vault.decrypted_secrets as ds
        where ds.name in ('pgflow_auth_secret', 'supabase_service_role_key', 'supabase_project_id');

        v_headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || v_auth_key);
    end if;

    if v_base_url is null or (not v_local and v_auth_key is null) then
        return;
    end if;

    -- MAIN: choose, ping, stamp (one statement; every CTE feeds the final SELECT)
    return query
    with chosen as (
        select wf.function_name
        from pgflow.worker_functions as wf
        where
            wf.enabled
            and (
                v_local
                or (
                    (wf.last_invoked_at is null or wf.last_invoked_at < now() - wf.debounce)
                    and not exists (
                        select 1
                        from pgflow.workers as w
                        where
                            w.function_name = wf.function_name
                            and w.stopped_at is null
                            and w.deprecated_at is null
                            and w.last_heartbeat_at > now() - wf.debounce
                    )
                )
            )
        order by wf.function_name
        for update of wf skip locked
    ),

    pinged as (
        select
            c.function_name,
            net.http_post(
                url => v_base_url || '/' || c.function_name,
                headers => v_headers,
                body => '{}'::jsonb
            ) as request_id
        from chosen as c
    ),

    stamped as (
        update pgflow.worker_functions as wf
        set last_invoked_at = clock_timestamp()
        from pinged as p
        where wf.function_name = p.function_name
        returning wf.function_name, p.request_id
    )

    select s.function_name, true, s.request_id
    from stamped as s
    order by s.function_name;
end;
$$;
