-- Extensions pgflow depends on.
--
-- pgmq (>= 1.5.0, for the `headers` column) is required. Where the server offers the pgmq
-- extension (Supabase, or a server with pgmq's control file installed) it is created here in
-- schema pgmq. Where pgmq was installed as plain SQL (`pgflow migrate` does that from the PyPI
-- `pgmq` package) it is used as it is. Otherwise installation stops with an error that says how
-- to install pgmq.
--
-- Supabase integrations (pg_net, pg_cron, vault, realtime) are optional: pg_net and pg_cron are
-- created when the server offers them and left alone when it does not, or when creating them
-- fails (then with a notice). Nothing in this schema needs them to install.
do $$
begin
    if to_regclass('pgmq.meta') is null then
        if exists (select 1 from pg_catalog.pg_available_extensions as ae where ae.name = 'pgmq') then
            create schema if not exists pgmq;
            create extension if not exists pgmq with schema pgmq;
        else
            raise exception 'pgflow needs pgmq (>= 1.5.0), which is not installed in this database'
                using hint = 'Run `pgflow migrate --dsn <url>` (it installs the pgmq SQL bundled with the '
                || 'PyPI package "pgmq"), or install the pgmq extension on the server and run '
                || '`create extension pgmq`.';
        end if;
    end if;

    if not exists (
        select 1
        from pg_catalog.pg_attribute as a
        where a.attrelid = to_regclass('pgmq.message_record')
            and a.attname = 'headers'
            and not a.attisdropped
    ) then
        raise exception 'pgflow needs pgmq >= 1.5.0 (pgmq.message_record has no "headers" attribute)'
            using hint = 'Upgrade pgmq: `alter extension pgmq update`, or reinstall it from a newer release.';
    end if;

    -- Optional integrations: created where the server offers them and they can be created. A
    -- server may list an extension it cannot create here (pg_cron outside shared_preload_libraries,
    -- as on many managed servers; a stand-in `cron`/`net` schema already there): the install goes
    -- on without it, with a notice.
    if exists (select 1 from pg_catalog.pg_available_extensions as ae where ae.name = 'pg_net')
        and not exists (select 1 from pg_catalog.pg_extension as e where e.extname = 'pg_net') then
        begin
            create extension if not exists pg_net with schema public;
        exception when others then
            raise notice 'pg_net is offered by this server but could not be created (%): continuing without it', sqlerrm;
        end;
    end if;
    if exists (select 1 from pg_catalog.pg_available_extensions as ae where ae.name = 'pg_cron')
        and not exists (select 1 from pg_catalog.pg_extension as e where e.extname = 'pg_cron') then
        begin
            create extension if not exists pg_cron;
        exception when others then
            raise notice 'pg_cron is offered by this server but could not be created (%): continuing without '
                'it; schedule the jobs later with pgflow.setup_requeue_stalled_tasks_cron() and '
                'pgflow.setup_ensure_workers_cron(), or run `pgflow maintain`', sqlerrm;
        end;
    end if;
end;
$$;
