-- pgflow._start_ready_steps_of_runs(run_ids, started_run_ids, started_step_slugs): start_ready_steps
-- for several runs in one pass: every step of a started run among run_ids that is ready (status
-- created, remaining_deps = 0, initial_tasks > 0) becomes started (started_at, remaining_tasks =
-- initial_tasks); the steps given as (started_run_ids[i], started_step_slugs[i]) were flipped so
-- by the caller already (complete_tasks_count does it in the update that makes them ready) and
-- are finished here the same way. For all of them: the step:<slug>:started broadcast (per run in
-- step_index order), one message per task ({"flow_slug","run_id","step_slug","task_index"}) and
-- its step_tasks row. One pgflow._send_batch (pgmq.send_batch's rows) per (flow, start delay) for
-- all the runs instead of one per step, message ids paired with tasks by position (runs, then
-- steps by slug, then task_index, as start_ready_steps called run after run would send them). pg_notify('pgflow_tasks',
-- flow_slug) once per flow with messages visible at once.
-- Called by complete_tasks_count and start_flow (the result is that of start_ready_steps on each
-- run, in run order).
-- Locks the ready step_states rows (ordered by run_id, step_slug); callers hold the runs' rows and
-- the rows of the steps they started.
-- Raises nothing of its own.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._start_ready_steps_of_runs(
    run_ids uuid [],
    started_run_ids uuid [],
    started_step_slugs text [],
    claim_worker_id uuid default null,
    claim_qty int default 0
)
returns bigint []
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_visible text [];
    v_inserted int;
    v_claimed bigint [];
    v_claim_flow text;
begin
    if coalesce(cardinality(_start_ready_steps_of_runs.run_ids), 0) = 0
        and coalesce(cardinality(_start_ready_steps_of_runs.started_run_ids), 0) = 0 then
        return '{}'::bigint [];
    end if;
    if coalesce(_start_ready_steps_of_runs.claim_qty, 0) > 0 then
        select w.queue_name into v_claim_flow
        from pgflow.workers as w
        where w.worker_id = _start_ready_steps_of_runs.claim_worker_id;
    end if;

    with ready as (
        select ss.run_id, ss.step_slug
        from pgflow.step_states as ss
        inner join pgflow.runs as r on r.run_id = ss.run_id
        where
            ss.run_id = any(_start_ready_steps_of_runs.run_ids)
            and r.status = 'started'
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and ss.initial_tasks is not null
            and ss.initial_tasks > 0
        order by ss.run_id, ss.step_slug
        for update of ss
    ),

    flipped as (
        update pgflow.step_states as ss
        set
            status = 'started',
            started_at = now(),
            remaining_tasks = ss.initial_tasks
        from ready as rd
        where ss.run_id = rd.run_id and ss.step_slug = rd.step_slug
        returning
            ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at,
            ss.initial_tasks, ss.remaining_tasks, ss.remaining_deps
    ),

    started as (
        select
            fl.flow_slug, fl.run_id, fl.step_slug, fl.status, fl.started_at,
            fl.initial_tasks, fl.remaining_tasks, fl.remaining_deps
        from flipped as fl
        union all
        select
            ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at,
            ss.initial_tasks, ss.remaining_tasks, ss.remaining_deps
        from unnest(_start_ready_steps_of_runs.started_run_ids, _start_ready_steps_of_runs.started_step_slugs)
            as p (run_id, step_slug)
        inner join pgflow.step_states as ss on ss.run_id = p.run_id and ss.step_slug = p.step_slug
    ),

    started_steps as (
        select
            st.*,
            s.step_index,
            coalesce(s.opt_start_delay, 0) as start_delay,
            coalesce(s.opt_timeout, f.opt_timeout) + 2 as claimed_vt
        from started as st
        inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
        inner join pgflow.flows as f on f.flow_slug = st.flow_slug
    ),

    events as (
        select
            pgflow._emit_events(
                array_agg('step:' || ss.step_slug || ':started' order by ss.run_id, ss.step_index),
                array_agg(
                    jsonb_build_object(
                        'event_type', 'step:started',
                        'run_id', ss.run_id,
                        'step_slug', ss.step_slug,
                        'status', ss.status,
                        'started_at', ss.started_at,
                        'remaining_tasks', ss.remaining_tasks,
                        'remaining_deps', ss.remaining_deps
                    )
                    order by ss.run_id, ss.step_index
                )
            ) as emitted
        from started_steps as ss
        having count(*) > 0
    ),

    tasks as (
        -- claimed: the first claim_qty tasks without start delay of the claiming worker's flow
        select
            t.*,
            case when t.claimed then t.claimed_vt else t.start_delay end as send_delay
        from (
            select
                ss.flow_slug,
                ss.start_delay,
                ss.claimed_vt,
                ss.run_id,
                ss.step_slug,
                i.task_index,
                ss.flow_slug = v_claim_flow and ss.start_delay = 0 and row_number() over (
                    partition by ss.flow_slug, ss.start_delay order by ss.run_id, ss.step_slug, i.task_index
                ) <= _start_ready_steps_of_runs.claim_qty as claimed
            from started_steps as ss
            cross join lateral generate_series(0, ss.initial_tasks - 1) as i (task_index)
        ) as t
    ),

    msgs as (
        select
            t.flow_slug,
            t.send_delay,
            t.claimed,
            t.run_id,
            t.step_slug,
            t.task_index,
            row_number() over (
                partition by t.flow_slug, t.send_delay order by t.run_id, t.step_slug, t.task_index
            ) as pos,
            jsonb_build_object(
                'flow_slug', t.flow_slug,
                'run_id', t.run_id,
                'step_slug', t.step_slug,
                'task_index', t.task_index
            ) as body
        from tasks as t
    ),

    sent as (
        select
            g.flow_slug,
            g.send_delay,
            m.msg_id,
            row_number() over (partition by g.flow_slug, g.send_delay order by m.msg_id) as pos
        from (select distinct ms.flow_slug, ms.send_delay from msgs as ms) as g
        cross join lateral pgflow._send_batch(
            g.flow_slug,
            array(
                select mb.body
                from msgs as mb
                where mb.flow_slug = g.flow_slug and mb.send_delay = g.send_delay
                order by mb.pos
            ),
            g.send_delay::integer
        ) as m (msg_id)
    ),

    inserted as (
        -- a claimed task is inserted started, as start_tasks would leave it
        insert into pgflow.step_tasks (
            flow_slug, run_id, step_slug, task_index, message_id, status, attempts_count, started_at, last_worker_id
        )
        select
            ms.flow_slug,
            ms.run_id,
            ms.step_slug,
            ms.task_index,
            se.msg_id,
            case when ms.claimed then 'started' else 'queued' end,
            case when ms.claimed then 1 else 0 end,
            case when ms.claimed then now() end,
            case when ms.claimed then _start_ready_steps_of_runs.claim_worker_id end
        from msgs as ms
        inner join sent as se on se.flow_slug = ms.flow_slug and se.send_delay = ms.send_delay and se.pos = ms.pos
        -- in key order: each index entry lands next to the previous one (a hash join's order
        -- would scatter a big map's tasks over step_tasks_pkey and split its pages)
        order by ms.run_id, ms.step_slug, ms.task_index
        returning step_tasks.message_id, step_tasks.status
    )

    select
        (select coalesce(array_agg(distinct t.flow_slug), '{}') from tasks as t where t.send_delay = 0),
        (select count(*) from inserted)::int,
        (
            select coalesce(array_agg(ins.message_id order by ins.message_id), '{}')
            from inserted as ins
            where ins.status = 'started'
        )
    into v_visible, v_inserted, v_claimed
    from (select count(*) as n from events) as e;

    -- Statistics for the workers' plans when a big map lands on a small table
    -- (its threshold checked here first: no call, no catalog read for the common small start)
    if coalesce(v_inserted, 0) >= 1000 then
        perform pgflow._refresh_task_statistics(coalesce(v_inserted, 0));
    end if;

    -- Worker wake-up: one notification per flow with messages visible now
    perform pg_notify('pgflow_tasks', v.flow_slug) from unnest(v_visible) as v (flow_slug);

    return v_claimed;
end;
$$;
