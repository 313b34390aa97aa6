-- pgflow_tests: helpers for the pgTAP suite (tests/sql/). Loaded after the migrations.
create extension if not exists pgtap;
create schema if not exists pgflow_tests;

-- Registers (or re-uses) a worker row so start_tasks' FK on last_worker_id holds.
create or replace function pgflow_tests.ensure_worker(
    queue_name text,
    worker_uuid uuid default '11111111-1111-1111-1111-111111111111',
    function_name text default 'test_worker'
)
returns uuid
language sql
set search_path = ''
as $$
    insert into pgflow.workers (worker_id, queue_name, function_name)
    values (ensure_worker.worker_uuid, ensure_worker.queue_name, ensure_worker.function_name)
    on conflict (worker_id) do update set queue_name = excluded.queue_name
    returning worker_id;
$$;

-- Reads up to qty visible messages of a flow's queue and starts their tasks, as a worker does.
create or replace function pgflow_tests.read_and_start(
    flow_slug text,
    vt int default 1,
    qty int default 1,
    worker_uuid uuid default '11111111-1111-1111-1111-111111111111'
)
returns setof pgflow.step_task_record
language plpgsql
set search_path = ''
as $$
declare
    v_ids bigint[];
begin
    perform pgflow_tests.ensure_worker(read_and_start.flow_slug, read_and_start.worker_uuid);
    select coalesce(array_agg(m.msg_id), '{}') into v_ids
    from pgmq.read(read_and_start.flow_slug, read_and_start.vt, read_and_start.qty) as m;
    return query
    select * from pgflow.start_tasks(read_and_start.flow_slug, v_ids, read_and_start.worker_uuid);
end;
$$;

-- Makes every message of a queue visible now (for tests that must not wait out a visibility timeout).
create or replace function pgflow_tests.make_all_visible(queue_name text)
returns void
language plpgsql
set search_path = ''
as $$
begin
    execute format('update pgmq.%I set vt = clock_timestamp()', pgmq.format_table_name(make_all_visible.queue_name, 'q'));
end;
$$;

-- Events broadcast for one run, in order of emission (needs the realtime stand-in).
create or replace function pgflow_tests.run_events(run_id uuid)
returns table (event text, payload jsonb)
language sql
set search_path = ''
as $$
    select m.event, m.payload
    from realtime.messages as m
    where m.topic = 'pgflow:run:' || run_events.run_id
    order by m.seq;
$$;
