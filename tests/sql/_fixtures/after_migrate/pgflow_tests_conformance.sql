-- pgflow_tests conformance helpers (tests/sql/conformance/): catalog look-ups by function name and
-- the key sets of broadcast payloads and queue messages. Loaded after the migrations.
create schema if not exists pgflow_tests;

-- pg_get_function_arguments of the one pgflow function with that name (NULL if none or overloaded).
create or replace function pgflow_tests.conf_fn_arguments(fn_name text)
returns text
language sql
stable
set search_path = ''
as $$
    select pg_catalog.pg_get_function_arguments(min(p.oid::int8)::oid)
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = conf_fn_arguments.fn_name
    having count(*) = 1;
$$;

-- pg_get_function_result of the one pgflow function with that name (NULL if none or overloaded).
create or replace function pgflow_tests.conf_fn_result(fn_name text)
returns text
language sql
stable
set search_path = ''
as $$
    select pg_catalog.pg_get_function_result(min(p.oid::int8)::oid)
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = conf_fn_result.fn_name
    having count(*) = 1;
$$;

-- Sorted top-level keys of a jsonb object, without the "id" that realtime.send injects.
create or replace function pgflow_tests.conf_keys(obj jsonb)
returns text[]
language sql
immutable
set search_path = ''
as $$
    select coalesce(array_agg(k.key order by k.key collate "C"), '{}')
    from jsonb_object_keys(conf_keys.obj) as k (key)
    where k.key <> 'id';
$$;

-- A text[] sorted (collation C, as conf_keys), so expected key sets can be written in any order.
create or replace function pgflow_tests.conf_sorted(items text[])
returns text[]
language sql
immutable
set search_path = ''
as $$
    select coalesce(array_agg(i.item order by i.item collate "C"), '{}')
    from unnest(conf_sorted.items) as i (item);
$$;

-- The broadcasts of one run in emission order, with realtime.messages' own columns.
create or replace function pgflow_tests.conf_events(run_id uuid)
returns table (seq bigint, event text, payload jsonb, topic text, extension text, private boolean)
language sql
stable
set search_path = ''
as $$
    select m.seq, m.event, m.payload, m.topic, m.extension, m.private
    from realtime.messages as m
    where m.topic = 'pgflow:run:' || conf_events.run_id::text
    order by m.seq;
$$;

-- The payload of a run's event with that name; NULL when absent or emitted more than once.
create or replace function pgflow_tests.conf_event(run_id uuid, event text)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select (array_agg(e.payload))[1]
    from pgflow_tests.conf_events(conf_event.run_id) as e
    where e.event = conf_event.event
    having count(*) = 1;
$$;

-- Messages (live, not archived) of a queue, by msg_id.
create or replace function pgflow_tests.conf_queue(queue_name text)
returns table (msg_id bigint, read_ct int, vt timestamptz, enqueued_at timestamptz, message jsonb, headers jsonb)
language plpgsql
set search_path = ''
as $$
begin
    return query execute format(
        'select q.msg_id, q.read_ct, q.vt, q.enqueued_at, q.message, q.headers from pgmq.%I as q order by q.msg_id',
        pgmq.format_table_name(conf_queue.queue_name, 'q')
    );
end;
$$;
