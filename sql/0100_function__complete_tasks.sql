-- pgflow._complete_tasks(run_ids, step_slugs, task_indexes, outputs, claim_worker_id, claim_qty):
-- the batched completion behind pgflow.complete_tasks_count, pgflow.complete_tasks and
-- pgflow.complete_tasks_and_claim (one round trip, one transaction for several task results).
-- Not part of pgflow's API; pgflow.complete_task stays the contract and is what this applies.
-- Item i is (run_ids[i], step_slugs[i], task_indexes[i], outputs[i]). The effect is that of
-- calling pgflow.complete_task for every item, ordered by (run_id, step_slug, task_index), in one
-- transaction. Returns `known`, the number of distinct known tasks among the items (unknown ones:
-- not counted; a task given twice: once), and `claimed`, the message ids of the tasks it handed to
-- claim_worker_id (see Claiming), ascending.
-- One pass classifies the batch's steps (items reach their tasks by primary key, each task once:
-- its first item wins). Two set-based paths cover the common cases, complete_task the rest:
--   * countdown: the items of a started map step of a started run that do not finish the step
--     (fewer started tasks among them than remaining_tasks): one UPDATE of the tasks, the step's
--     remaining_tasks drops by their number. Nothing cascades, starts or finishes, exactly as
--     with complete_task.
--   * finishing: the items that finish their step (their started tasks = remaining_tasks) in a
--     started run of a flow without conditions, unless a single step would hand a non-array to
--     a map child (the type violation is complete_task's): the tasks, the steps (output: the
--     task's, or the map's outputs by task_index), step:<slug>:completed, the dependents'
--     remaining_deps (and a map child's initial_tasks), the runs' remaining_steps, each in one
--     statement for the whole batch; a run whose last steps these are completes in that same
--     update of its row (maybe_complete_run's effect) and gets run:completed after its steps'
--     events. For the runs that go on, as complete_task does per run: the taskless cascade where
--     a step became taskless, the ready steps (_start_ready_steps_of_runs: one pass and one
--     send_batch per flow for all the runs), maybe_complete_run for runs the cascade finished.
--   Messages of the tasks completed by both paths are archived with one
--   pgmq.archive(queue, msg_ids[]) per flow.
--   * every other item (late or duplicate callbacks, flows with conditions, type violations, a
--     failed run): pgflow.complete_task, in (run_id, step_slug, task_index) order.
-- Events of one run keep complete_task's order (step completed, steps started, run completed).
-- Claiming (claim_qty > 0): of the tasks the finishing path creates in the flow whose queue
-- claim_worker_id serves (pgflow.workers.queue_name), steps without start delay, the first
-- claim_qty are handed to that worker at once: inserted started (attempts_count 1, started_at,
-- last_worker_id), their messages sent invisible for the step's timeout + 2 s, as if the worker
-- had read and started them.
-- Called by complete_tasks_count, complete_tasks_and_claim.
-- LOCKS: the items' runs in run_id order (two batches never wait on each other in a cycle), then
-- the set-based paths' step_states rows in (run_id, step_slug) order (one pass), then their tasks and the
-- dependents' step_states; complete_task takes its own locks after that, in its usual order.
-- Raises `run_ids, step_slugs, task_indexes and outputs must have the same length (<a>, <b>, <c>, <d>)`;
-- whatever complete_task raises (then nothing of the batch is applied).
-- Planning: random_page_cost = 1.1 for this call and what it calls. Its statements reach a few
-- rows by key, rows just written and in shared buffers; with the default 4.0 the planner
-- preferred scanning a whole table of a thousand runs (or tasks) to ten index probes (seen with
-- auto_explain in benchmark scenario 2, 1,000 runs: sequential scans of runs and step_tasks in
-- up to eight statements per batch). Tables large enough, or small enough, plan the same either way.
-- Also one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._complete_tasks(
    run_ids uuid [],
    step_slugs text [],
    task_indexes int [],
    outputs jsonb [],
    claim_worker_id uuid,
    claim_qty int,
    out known int,
    out claimed bigint []
)
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set random_page_cost = 1.1
as $$
declare
    v_n int := coalesce(cardinality(_complete_tasks.run_ids), 0);
    v_fast_runs uuid [];
    v_fast_steps text [];
    v_fin_runs uuid [];
    v_fin_steps text [];
    v_done_runs uuid [];
    v_finished_runs uuid [];
    v_started_runs uuid [];
    v_started_steps text [];
    v_run_events text [];
    v_run_payloads jsonb [];
    v_queues text [];
    v_msg_ids bigint [];
    v_item record;
    v_pairs int;
    v_known int;
begin
    -- GUARD: positional arrays of one length
    if v_n <> coalesce(cardinality(_complete_tasks.step_slugs), 0)
        or v_n <> coalesce(cardinality(_complete_tasks.task_indexes), 0)
        or v_n <> coalesce(cardinality(_complete_tasks.outputs), 0) then
        raise exception 'run_ids, step_slugs, task_indexes and outputs must have the same length (%, %, %, %)',
            v_n, coalesce(cardinality(_complete_tasks.step_slugs), 0),
            coalesce(cardinality(_complete_tasks.task_indexes), 0),
            coalesce(cardinality(_complete_tasks.outputs), 0);
    end if;
    claimed := '{}';
    if v_n = 0 then
        known := 0;
        return;
    end if;

    -- LOCKS: every run of the batch, in run_id order
    perform 1
    from pgflow.runs as r
    where r.run_id = any(_complete_tasks.run_ids)
    order by r.run_id
    for update;

    -- The batch's steps, each classified once (a task given twice counts once: its first item):
    --   fast: a started map step of a started run that its started tasks here do not finish;
    --   finishing: the items hold every task the step still waits for (flows without
    --   conditions; not a single step handing a non-array to a map child);
    --   anything else goes to complete_task. Items reach their tasks by primary key.
    with items as (
        select distinct on (u.run_id, u.step_slug, u.task_index)
            u.run_id, u.step_slug, u.task_index, u.output, u.ord
        from unnest(
            _complete_tasks.run_ids, _complete_tasks.step_slugs,
            _complete_tasks.task_indexes, _complete_tasks.outputs
        ) with ordinality as u (run_id, step_slug, task_index, output, ord)
        order by u.run_id, u.step_slug, u.task_index, u.ord
    ),

    per_step as (
        select
            i.run_id,
            i.step_slug,
            count(t.task_index)::int as known,
            count(*) filter (where t.status = 'started')::int as started,
            (array_agg(i.output order by i.ord))[1] as first_output
        from items as i
        left join pgflow.step_tasks as t
            on t.run_id = i.run_id and t.step_slug = i.step_slug and t.task_index = i.task_index
        group by i.run_id, i.step_slug
    )

    select
        coalesce(array_agg(g.run_id) filter (where g.fast), '{}'),
        coalesce(array_agg(g.step_slug) filter (where g.fast), '{}'),
        coalesce(array_agg(g.run_id) filter (where not g.fast), '{}'),
        coalesce(array_agg(g.step_slug) filter (where not g.fast), '{}'),
        (select count(*)::int from per_step),
        (select coalesce(sum(p.known), 0)::int from per_step as p)
    into v_fast_runs, v_fast_steps, v_fin_runs, v_fin_steps, v_pairs, v_known
    from (
        select ss.run_id, ss.step_slug, s.step_type = 'map' and ss.remaining_tasks > p.started as fast
        from per_step as p
        inner join pgflow.step_states as ss on ss.run_id = p.run_id and ss.step_slug = p.step_slug
        inner join pgflow.runs as r on r.run_id = ss.run_id
        inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        where
            r.status = 'started'
            and ss.status = 'started'
            and (
                (s.step_type = 'map' and ss.remaining_tasks > p.started)
                or (
                    ss.remaining_tasks >= 1
                    and ss.remaining_tasks = p.started
                    and not exists (
                        select 1
                        from pgflow.steps as cond
                        where
                            cond.flow_slug = ss.flow_slug
                            and (cond.required_input_pattern is not null or cond.forbidden_input_pattern is not null)
                    )
                    and not (
                        s.step_type = 'single'
                        and exists (
                            select 1
                            from pgflow.deps as d
                            inner join pgflow.steps as cs on cs.flow_slug = d.flow_slug and cs.step_slug = d.step_slug
                            where d.flow_slug = ss.flow_slug and d.dep_slug = ss.step_slug and cs.step_type = 'map'
                        )
                        and coalesce(jsonb_typeof(p.first_output), 'null') <> 'array'
                    )
                )
            )
        order by ss.run_id, ss.step_slug
        for update of ss
    ) as g;

    if cardinality(v_fin_runs) > 0 then
        -- the tasks (the first item of a task given twice wins). Each path sorts its own items:
        -- reusing the classification's de-duplicated items as arrays was measured slower (a
        -- join of two unnests plans worse than this sorted subquery: +15% CPU per task at
        -- batches of 100, the same at 10)
        with items as (
            select distinct on (u.run_id, u.step_slug, u.task_index) u.run_id, u.step_slug, u.task_index, u.output
            from unnest(
                _complete_tasks.run_ids, _complete_tasks.step_slugs,
                _complete_tasks.task_indexes, _complete_tasks.outputs
            ) with ordinality as u (run_id, step_slug, task_index, output, ord)
            inner join unnest(v_fin_runs, v_fin_steps) as f (run_id, step_slug)
                on f.run_id = u.run_id and f.step_slug = u.step_slug
            order by u.run_id, u.step_slug, u.task_index, u.ord
        ),

        done as (
            update pgflow.step_tasks as st
            set status = 'completed', completed_at = now(), output = i.output
            from items as i
            where
                st.run_id = i.run_id
                and st.step_slug = i.step_slug
                and st.task_index = i.task_index
                and st.status = 'started'
            returning st.flow_slug, st.message_id
        )

        select
            coalesce(array_agg(dn.flow_slug) filter (where dn.message_id is not null), '{}'),
            coalesce(array_agg(dn.message_id) filter (where dn.message_id is not null), '{}')
        into v_queues, v_msg_ids
        from done as dn;

        -- the steps, their events, their dependents and their runs; a run whose last steps these
        -- are completes in the same update (maybe_complete_run's effect: nothing is left to
        -- cascade or start), its output being its leaf steps' outputs, old and new
        with completed as (
            update pgflow.step_states as ss
            set
                remaining_tasks = 0,
                status = 'completed',
                completed_at = now(),
                output = case
                    when s.step_type = 'map' then (
                        select coalesce(jsonb_agg(t.output order by t.task_index), '[]'::jsonb)
                        from pgflow.step_tasks as t
                        where t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.status = 'completed'
                    )
                    else (
                        select t.output
                        from pgflow.step_tasks as t
                        where t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.status = 'completed'
                        order by t.task_index
                        limit 1
                    )
                end
            from unnest(v_fin_runs, v_fin_steps) as f (run_id, step_slug), pgflow.steps as s
            where
                ss.run_id = f.run_id
                and ss.step_slug = f.step_slug
                and s.flow_slug = ss.flow_slug
                and s.step_slug = ss.step_slug
            returning ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.output, ss.completed_at, s.step_index
        ),

        events as (
            select
                pgflow._emit_events(
                    array_agg('step:' || c.step_slug || ':completed' order by c.run_id, c.step_index),
                    array_agg(
                        jsonb_build_object(
                            'event_type', 'step:completed',
                            'run_id', c.run_id,
                            'step_slug', c.step_slug,
                            'status', c.status,
                            'output', c.output,
                            'completed_at', c.completed_at
                        )
                        order by c.run_id, c.step_index
                    )
                ) as emitted
            from completed as c
            having count(*) > 0
        ),

        unblocked as (
            -- a dependent that becomes ready here with tasks to run also starts here (status,
            -- started_at, remaining_tasks): one write of its row instead of two;
            -- _start_ready_steps_of_runs sends its messages, inserts its tasks and broadcasts
            -- step:<slug>:started after the taskless cascade, where starting used to happen
            update pgflow.step_states as cs
            set
                remaining_deps = cs.remaining_deps - p.parents,
                initial_tasks = p.initial_tasks,
                status = case when p.starts then 'started' else cs.status end,
                started_at = case when p.starts then now() else cs.started_at end,
                remaining_tasks = case when p.starts then p.initial_tasks else cs.remaining_tasks end
            from (
                select
                    q.run_id,
                    q.step_slug,
                    q.parents,
                    q.initial_tasks,
                    coalesce(q.ready and q.initial_tasks > 0, false) as starts
                from (
                    select
                        pr.run_id,
                        pr.step_slug,
                        pr.parents,
                        ds.status = 'created' and ds.remaining_deps = pr.parents as ready,
                        case
                            when ds_step.step_type = 'map' and ds.initial_tasks is null then
                                -- nested CASE: the planner folds constant arms, the array check
                                -- must come first
                                case when jsonb_typeof(pr.output) = 'array' then jsonb_array_length(pr.output) end
                            else ds.initial_tasks
                        end as initial_tasks
                    from (
                        -- a map has one dependency: its parent's output is the only one
                        select c.run_id, d.step_slug, count(*)::int as parents, (array_agg(c.output))[1] as output
                        from completed as c
                        inner join pgflow.deps as d on d.flow_slug = c.flow_slug and d.dep_slug = c.step_slug
                        group by c.run_id, d.step_slug
                    ) as pr
                    -- the row as this statement found it (no other writer: the run is locked)
                    inner join pgflow.step_states as ds on ds.run_id = pr.run_id and ds.step_slug = pr.step_slug
                    inner join pgflow.steps as ds_step
                        on ds_step.flow_slug = ds.flow_slug and ds_step.step_slug = ds.step_slug
                ) as q
            ) as p
            where cs.run_id = p.run_id and cs.step_slug = p.step_slug
            returning cs.run_id, cs.step_slug, cs.status
        ),

        counted as (
            update pgflow.runs as r
            set
                remaining_steps = r.remaining_steps - c.n,
                status = case when r.remaining_steps = c.n then 'completed' else r.status end,
                completed_at = case when r.remaining_steps = c.n then now() else r.completed_at end,
                output = case
                    when r.remaining_steps = c.n then (
                        -- the statement's snapshot: leaf steps completed before it, plus its own
                        select jsonb_object_agg(l.step_slug, l.output)
                        from (
                            select ss.step_slug, ss.output
                            from pgflow.step_states as ss
                            where ss.run_id = r.run_id and ss.status = 'completed'
                            union all
                            select cl.step_slug, cl.output
                            from completed as cl
                            where cl.run_id = r.run_id
                        ) as l
                        where not exists (
                            select 1
                            from pgflow.deps as d
                            where d.flow_slug = r.flow_slug and d.dep_slug = l.step_slug
                        )
                    )
                    else r.output
                end
            from (select cr.run_id, count(*)::int as n from completed as cr group by cr.run_id) as c
            where r.run_id = c.run_id and r.status = 'started'
            returning r.run_id, r.flow_slug, r.status, r.output, r.completed_at
        )

        select
            coalesce(array_agg(cn.run_id order by cn.run_id) filter (where cn.status = 'started'), '{}'),
            coalesce(array_agg(cn.run_id order by cn.run_id) filter (where cn.status = 'completed'), '{}'),
            array_agg('run:completed'::text order by cn.run_id) filter (where cn.status = 'completed'),
            array_agg(
                jsonb_build_object(
                    'event_type', 'run:completed',
                    'run_id', cn.run_id,
                    'flow_slug', cn.flow_slug,
                    'status', cn.status,
                    'output', cn.output,
                    'completed_at', cn.completed_at
                )
                order by cn.run_id
            ) filter (where cn.status = 'completed'),
            (select coalesce(array_agg(ub.run_id order by ub.run_id, ub.step_slug), '{}') from unblocked as ub where ub.status = 'started'),
            (select coalesce(array_agg(ub.step_slug order by ub.run_id, ub.step_slug), '{}') from unblocked as ub where ub.status = 'started')
        into v_done_runs, v_finished_runs, v_run_events, v_run_payloads, v_started_runs, v_started_steps
        from counted as cn
        cross join (select count(*) as n from events) as e;

        -- one archive call per flow queue
        perform pgmq.archive(q.queue, q.ids)
        from (
            select a.queue, array_agg(a.msg_id order by a.msg_id) as ids
            from unnest(v_queues, v_msg_ids) as a (queue, msg_id)
            group by a.queue
        ) as q;

        -- per run that goes on, as complete_task: taskless cascade where a step became taskless
        -- (no conditions in these flows), then ready steps, all runs in one pass
        if cardinality(v_done_runs) > 0 then
            for v_item in
                select r.run_id
                from pgflow.runs as r
                where
                    r.run_id = any(v_done_runs)
                    and exists (
                        select 1
                        from pgflow.step_states as ss
                        where
                            ss.run_id = r.run_id
                            and ss.status = 'created'
                            and ss.remaining_deps = 0
                            and ss.initial_tasks = 0
                    )
                order by r.run_id
            loop
                perform pgflow.cascade_complete_taskless_steps(v_item.run_id);
            end loop;

            claimed := pgflow._start_ready_steps_of_runs(
                array(
                    select r.run_id
                    from pgflow.runs as r
                    where r.run_id = any(v_done_runs) and r.status = 'started' and r.remaining_steps > 0
                ),
                v_started_runs,
                v_started_steps,
                _complete_tasks.claim_worker_id,
                _complete_tasks.claim_qty
            );

            -- then maybe_complete_run for the runs the cascade finished, in run_id order
            perform pgflow.maybe_complete_run(r.run_id)
            from pgflow.runs as r
            where r.run_id = any(v_done_runs) and r.remaining_steps = 0 and r.status = 'started'
            order by r.run_id;
        end if;

        -- run:completed of the runs that completed with these steps, after their steps' events
        if cardinality(v_finished_runs) > 0 then
            perform pgflow._emit_events(v_run_events, v_run_payloads);
        end if;
    end if;

    -- MAIN, fast path: one statement completes their tasks and counts the steps down
    if cardinality(v_fast_runs) > 0 then
        with items as (
            select distinct on (u.run_id, u.step_slug, u.task_index) u.run_id, u.step_slug, u.task_index, u.output
            from unnest(
                _complete_tasks.run_ids, _complete_tasks.step_slugs,
                _complete_tasks.task_indexes, _complete_tasks.outputs
            ) with ordinality as u (run_id, step_slug, task_index, output, ord)
            inner join unnest(v_fast_runs, v_fast_steps) as f (run_id, step_slug)
                on f.run_id = u.run_id and f.step_slug = u.step_slug
            -- a task given twice: the first item wins, as with two complete_task calls
            order by u.run_id, u.step_slug, u.task_index, u.ord
        ),

        done as (
            update pgflow.step_tasks as st
            set status = 'completed', completed_at = now(), output = i.output
            from items as i
            where
                st.run_id = i.run_id
                and st.step_slug = i.step_slug
                and st.task_index = i.task_index
                and st.status = 'started'
            returning st.flow_slug, st.run_id, st.step_slug, st.message_id
        ),

        counted as (
            update pgflow.step_states as ss
            set remaining_tasks = ss.remaining_tasks - d.n
            from (
                select dn.run_id, dn.step_slug, count(*)::int as n
                from done as dn
                group by dn.run_id, dn.step_slug
            ) as d
            where ss.run_id = d.run_id and ss.step_slug = d.step_slug
            returning 1
        )

        select
            coalesce(array_agg(dq.flow_slug) filter (where dq.message_id is not null), '{}'),
            coalesce(array_agg(dq.message_id) filter (where dq.message_id is not null), '{}')
        into v_queues, v_msg_ids
        from done as dq
        cross join (select count(*) as n from counted) as c;

        -- one archive call per flow queue
        perform pgmq.archive(q.queue, q.ids)
        from (
            select a.queue, array_agg(a.msg_id order by a.msg_id) as ids
            from unnest(v_queues, v_msg_ids) as a (queue, msg_id)
            group by a.queue
        ) as q;
    end if;

    -- MAIN, general path: every other item through complete_task, in key order (none when
    -- every step of the batch took a set-based path)
    if cardinality(v_fast_runs) + cardinality(v_fin_runs) < v_pairs then
        for v_item in
            select u.run_id, u.step_slug, u.task_index, u.output
            from unnest(
                _complete_tasks.run_ids, _complete_tasks.step_slugs,
                _complete_tasks.task_indexes, _complete_tasks.outputs
            ) with ordinality as u (run_id, step_slug, task_index, output, ord)
            where
                (u.run_id, u.step_slug) not in (
                    select f.run_id, f.step_slug from unnest(v_fast_runs, v_fast_steps) as f (run_id, step_slug)
                )
                and (u.run_id, u.step_slug) not in (
                    select f.run_id, f.step_slug from unnest(v_fin_runs, v_fin_steps) as f (run_id, step_slug)
                )
            order by u.run_id, u.step_slug, u.task_index, u.ord
        loop
            perform 1 from pgflow.complete_task(v_item.run_id, v_item.step_slug, v_item.task_index, v_item.output);
        end loop;
    end if;

    known := v_known;
end;
$$;
