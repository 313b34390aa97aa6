-- Small local stand-ins for the Supabase objects pgflow touches (spec §10): realtime, vault,
-- pg_net and pg_cron. Installed before the migrations in the pgTAP database only, the way the
-- acceptance suite runs; the Python tests run on plain PostgreSQL without them.

create schema if not exists realtime;

create table if not exists realtime.messages (
    topic text not null,
    extension text not null,
    payload jsonb,
    event text,
    private boolean default false,
    updated_at timestamp default now(),
    inserted_at timestamp default now(),
    id uuid default gen_random_uuid(),
    seq bigserial -- stand-in only: emission order for tests
);

create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql
set search_path = ''
as $$
begin
    begin
        insert into realtime.messages (payload, event, topic, private, extension)
        values (
            case when send.payload ? 'id' then send.payload
                else send.payload || jsonb_build_object('id', gen_random_uuid()) end,
            send.event, send.topic, send.private, 'broadcast'
        );
    exception when others then
        raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
    end;
end;
$$;

create schema if not exists vault;

create table if not exists vault.secrets (
    id uuid primary key default gen_random_uuid(),
    name text unique,
    description text not null default '',
    secret text not null,
    key_id uuid,
    nonce bytea,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create or replace view vault.decrypted_secrets as
select s.id, s.name, s.description, s.secret, s.secret as decrypted_secret, s.key_id, s.nonce,
    s.created_at, s.updated_at
from vault.secrets as s;

create or replace function vault.create_secret(
    new_secret text, new_name text default null, new_description text default '', new_key_id uuid default null
)
returns uuid
language sql
set search_path = ''
as $$
    insert into vault.secrets (secret, name, description, key_id)
    values (new_secret, new_name, coalesce(new_description, ''), new_key_id)
    returning id;
$$;

create schema if not exists net;

create table if not exists net.http_request_queue (
    id bigserial primary key,
    method text not null,
    url text not null,
    headers jsonb not null,
    body bytea,
    timeout_milliseconds int not null
);

create table if not exists net._http_response (
    id bigint,
    status_code int,
    content_type text,
    headers jsonb,
    content text,
    timed_out boolean,
    error_msg text,
    created timestamptz not null default now()
);

create or replace function net.http_post(
    url text,
    body jsonb default '{}'::jsonb,
    params jsonb default '{}'::jsonb,
    headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
    timeout_milliseconds int default 5000
)
returns bigint
language sql
set search_path = ''
as $$
    insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
    values ('POST', http_post.url, http_post.headers, convert_to(http_post.body::text, 'UTF8'), http_post.timeout_milliseconds)
    returning id;
$$;

create schema if not exists cron;

create table if not exists cron.job (
    jobid bigserial primary key,
    schedule text not null,
    command text not null,
    nodename text not null default 'localhost',
    nodeport int not null default 5432,
    database text not null default current_database(),
    username text not null default current_user,
    active boolean not null default true,
    jobname text unique
);

create table if not exists cron.job_run_details (
    jobid bigint,
    runid bigserial primary key,
    job_pid int,
    database text,
    username text,
    command text,
    status text,
    return_message text,
    start_time timestamptz,
    end_time timestamptz
);

create or replace function cron.schedule(job_name text, schedule text, command text)
returns bigint
language sql
set search_path = ''
as $$
    insert into cron.job (jobname, schedule, command)
    values (schedule.job_name, schedule.schedule, schedule.command)
    on conflict (jobname) do update set schedule = excluded.schedule, command = excluded.command
    returning jobid;
$$;

create or replace function cron.unschedule(job_name text)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
    delete from cron.job as j where j.jobname = unschedule.job_name;
    if not found then
        raise exception 'could not find valid entry for job ''%''', unschedule.job_name;
    end if;
    return true;
end;
$$;
