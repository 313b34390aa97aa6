-- pgflow.prune_runs(older_than, max_runs): retention. Deletes up to max_runs finished runs
-- (completed, failed or cancelled) that finished (completed_at, failed_at or cancelled_at) before
-- now() - older_than, oldest first, with everything that belongs to them: their tasks (and task
-- deadlines), step states, idempotency keys, their tasks' messages in the flow's queue archive
-- pgmq.a_<flow> (and in the queue itself, should one be left there), and the retry links that
-- point at them (a retry keeps its run, its retry_of_run_id becomes NULL). Never touches a started
-- run or its messages. Returns how many runs it deleted. Beside the contract (run control; the
-- name pgflow.prune_data_older_than belongs to users' own installs of pgflow's recipe).
-- Messages are found by their tasks' message_id (the archive's primary key), not by scanning
-- message bodies: every message of a run is one of its tasks' (pgflow.resume_run keeps it so).
-- Short transactions: one call deletes at most max_runs runs, so that it can run beside a busy
-- worker; call it again while it returns max_runs (the worker's maintenance loop does).
-- Example: select pgflow.prune_runs(interval '7 days');
-- Called by the pgflow-py worker (Worker(retention=...)), `pgflow prune`, or pg_cron.
-- LOCKS: the runs it deletes (FOR UPDATE SKIP LOCKED: a run some caller holds is left for the next
-- call), then their tasks, step states, then the tasks' messages (the order of every other
-- writer: run, step state, task, message).
-- Raises `older_than must be a non-negative interval (got <x>)`, `max_runs must be at least 1
-- (got <n>)` (22023).
create or replace function pgflow.prune_runs(older_than interval, max_runs integer default 1000)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run_ids uuid [];
    v_flows text [];
    v_msg_ids bigint [];
    v_flow text;
    v_ids bigint [];
begin
    -- GUARD
    if prune_runs.older_than is null or prune_runs.older_than < interval '0' then
        raise exception 'older_than must be a non-negative interval (got %)', coalesce(prune_runs.older_than::text, 'NULL')
            using errcode = '22023';
    end if;
    if prune_runs.max_runs is null or prune_runs.max_runs < 1 then
        raise exception 'max_runs must be at least 1 (got %)', coalesce(prune_runs.max_runs::text, 'NULL')
            using errcode = '22023';
    end if;

    -- LOCKS: the oldest finished runs (idx_runs_finished)
    select coalesce(array_agg(v.run_id), '{}') into v_run_ids
    from (
        select r.run_id
        from pgflow.runs as r
        where
            r.status <> 'started'
            and coalesce(r.completed_at, r.failed_at, r.cancelled_at) < now() - prune_runs.older_than
        order by coalesce(r.completed_at, r.failed_at, r.cancelled_at), r.run_id
        limit prune_runs.max_runs
        for update skip locked
    ) as v;

    if cardinality(v_run_ids) = 0 then
        return 0;
    end if;

    -- MAIN: tasks (their deadlines cascade), keeping their message ids; step states; runs (their
    -- idempotency keys cascade, retries pointing at them get NULL)
    with gone as (
        delete from pgflow.step_tasks as st
        where st.run_id = any(v_run_ids)
        returning st.flow_slug, st.message_id
    )

    select
        coalesce(array_agg(g.flow_slug) filter (where g.message_id is not null), '{}'),
        coalesce(array_agg(g.message_id) filter (where g.message_id is not null), '{}')
    into v_flows, v_msg_ids
    from gone as g;

    delete from pgflow.step_states as ss where ss.run_id = any(v_run_ids);
    delete from pgflow.runs as r where r.run_id = any(v_run_ids);

    -- their messages: one statement per flow archive (by primary key), and the queue
    for v_flow, v_ids in
        select u.flow_slug, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_flows, v_msg_ids) as u (flow_slug, msg_id)
        group by u.flow_slug
        order by u.flow_slug
    loop
        if to_regclass(format('pgmq.%I', pgmq.format_table_name(v_flow, 'a'))) is not null then
            execute format('delete from pgmq.%I as a where a.msg_id = any($1)', pgmq.format_table_name(v_flow, 'a'))
            using v_ids;
            perform pgmq.delete(v_flow, v_ids);
        end if;
    end loop;

    return cardinality(v_run_ids);
end;
$$;
