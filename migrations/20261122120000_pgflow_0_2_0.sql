-- Generated from sql/ by scripts/gen_migration.py: edit sql/, then regenerate. Do not edit.

-- ==== sql/0065_index_runs_by_flow_slug_started_at.sql ====
-- The dashboard's runs list (pgflow ui), one flow: newest first by (started_at, run_id), a page at
-- a time past a keyset cursor, over any number of runs. Read by queries.UI_RUNS_OLDER and
-- UI_RUNS_NEWER. Named runs_by_*, not idx_*: that prefix names the contract's indexes.
create index if not exists runs_by_flow_slug_started_at on pgflow.runs (flow_slug, started_at, run_id);

-- ==== sql/0065_index_runs_by_flow_slug_status_started_at.sql ====
-- The dashboard's runs list (pgflow ui), one flow and one status other than completed: newest first
-- by (started_at, run_id), a page at a time past a keyset cursor. Without it a status that one flow
-- never has (its failed runs, say) walks every run of that status to find none (94 ms on 1,000,000
-- runs). Partial for the reason runs_by_status_started_at is. Read by queries.UI_RUNS_OLDER/NEWER.
-- Named runs_by_*, not idx_*: that prefix names the contract's indexes.
create index if not exists runs_by_flow_slug_status_started_at on pgflow.runs (
    flow_slug, status, started_at, run_id
)
where status <> 'completed';

-- ==== sql/0065_index_runs_by_started_at.sql ====
-- The dashboard's runs list (pgflow ui), any flow and status: newest first by (started_at, run_id),
-- a page at a time past a keyset cursor, over any number of runs. Read by queries.UI_RUNS_OLDER and
-- UI_RUNS_NEWER. Named runs_by_*, not idx_*: that prefix names the contract's indexes.
create index if not exists runs_by_started_at on pgflow.runs (started_at, run_id);

-- ==== sql/0065_index_runs_by_status_started_at.sql ====
-- The dashboard's runs list (pgflow ui), one status other than completed: newest first by
-- (started_at, run_id), a page at a time past a keyset cursor. Partial: completed runs, the bulk,
-- are listed fast through runs_by_started_at (most rows match), and a run that completes leaves
-- this index alone. Read by queries.UI_RUNS_OLDER and UI_RUNS_NEWER. Named runs_by_*, not idx_*:
-- that prefix names the contract's indexes.
create index if not exists runs_by_status_started_at on pgflow.runs (status, started_at, run_id)
where status <> 'completed';

-- ==== sql/0070_function__emit_event.sql ====
-- pgflow._emit_event(event, payload): publishes one run or step transition.
-- Called by every function that changes a run or step status one row at a time, once per
-- transition; the set-based paths call pgflow._emit_events, which does the work (Supabase
-- Realtime when realtime.send exists, NOTIFY on channel `pgflow` always; see there).
-- Locks nothing. Raises nothing of its own.
create or replace function pgflow._emit_event(event text, payload jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform pgflow._emit_events(array[_emit_event.event], array[_emit_event.payload]);
end;
$$;

-- ==== sql/0070_function__emit_events.sql ====
-- pgflow._emit_events(events, payloads): publishes run or step transitions, event i being
-- (events[i], payloads[i]), in array order. One call for a whole batch of transitions (pgflow-py's
-- set-based paths); pgflow._emit_event is the one-event form.
--
-- Two channels:
--   * Supabase Realtime: realtime.send(payload, event, 'pgflow:run:<run_id>', false), only when a
--     function realtime.send(jsonb, text, text, boolean) exists (Supabase, or a stand-in).
--   * LISTEN/NOTIFY, always: channel `pgflow`, payload = the event payload plus an "event" key.
--     NOTIFY payloads are limited to 8000 bytes, so when the payload is larger its bulky keys
--     (input, output, error_message) are dropped and "truncated": true is added; a listener then
--     reads the full state with pgflow.get_run_with_states(run_id).
-- Returns the number of events. Locks nothing. Raises when the arrays differ in length.
create or replace function pgflow._emit_events(events text [], payloads jsonb [])
returns int
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_item record;
    v_n int;
begin
    -- GUARD: positional arrays of one length
    if coalesce(cardinality(_emit_events.events), 0) <> coalesce(cardinality(_emit_events.payloads), 0) then
        raise exception 'events and payloads must have the same length (%, %)',
            coalesce(cardinality(_emit_events.events), 0), coalesce(cardinality(_emit_events.payloads), 0);
    end if;

    if to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
        for v_item in
            select e.event, e.payload
            from unnest(_emit_events.events, _emit_events.payloads) with ordinality as e (event, payload, ord)
            order by e.ord
        loop
            execute 'select realtime.send($1, $2, $3, false)'
            using v_item.payload, v_item.event, 'pgflow:run:' || (v_item.payload ->> 'run_id');
        end loop;
    end if;

    -- MAIN: one NOTIFY per event, in array order
    select count(
        pg_notify(
            'pgflow',
            case
                when octet_length(n.full_text) <= 7900 then n.full_text
                else (
                    (n.payload - 'input' - 'output' - 'error_message')
                    || jsonb_build_object('event', n.event, 'truncated', true)
                )::text
            end
        )
    )
    into v_n
    from (
        select e.event, e.payload, (e.payload || jsonb_build_object('event', e.event))::text as full_text
        from unnest(_emit_events.events, _emit_events.payloads) with ordinality as e (event, payload, ord)
        order by e.ord
    ) as n;
    return v_n;
end;
$$;

-- ==== sql/0080_function_schema_version.sql ====
-- pgflow.schema_version(): the version of this schema, an integer that grows by one with every
-- release that changes sql/. The Python client and worker refuse to run against a database whose
-- schema is older (run `pgflow migrate`) or newer (upgrade pgflow-py) than they understand.
create or replace function pgflow.schema_version()
returns int
language sql
immutable
set search_path = ''
as $$
    select 2;
$$;

-- ==== sql/0090_function__task_records.sql ====
-- pgflow._task_records(p_flow_slug, msg_ids): what the handlers of started tasks need, for the
-- tasks of the flow whose message_id is in msg_ids and whose status is started: the columns of
-- pgflow.step_task_record plus the task's attempts_count, one row per task, ordered by msg_id.
-- Inputs (spec section 6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- Called by pgflow._start_tasks and pgflow.complete_tasks_and_claim. Locks nothing; raises nothing.
create or replace function pgflow._task_records(p_flow_slug text, msg_ids bigint [])
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int
)
language plpgsql
stable
set search_path = ''
as $$
begin
    return query
    select
        st.flow_slug,
        st.run_id,
        st.step_slug,
        case
            when s.step_type = 'map' and s.deps_count = 0 then r.input -> st.task_index
            when s.step_type = 'map' then (
                select dss.output -> st.task_index
                from pgflow.deps as d
                inner join pgflow.step_states as dss on dss.run_id = st.run_id and dss.step_slug = d.dep_slug
                where d.flow_slug = st.flow_slug and d.step_slug = st.step_slug
                limit 1
            )
            else coalesce(
                (
                    select jsonb_object_agg(d.dep_slug, dss.output)
                    from pgflow.deps as d
                    inner join pgflow.step_states as dss on dss.run_id = st.run_id and dss.step_slug = d.dep_slug
                    where
                        d.flow_slug = st.flow_slug
                        and d.step_slug = st.step_slug
                        and dss.status = 'completed'
                ),
                '{}'::jsonb
            )
        end as input,
        st.message_id as msg_id,
        st.task_index,
        case when s.step_type = 'single' and s.deps_count = 0 then r.input end as flow_input,
        st.attempts_count
    from pgflow.step_tasks as st
    inner join pgflow.runs as r on r.run_id = st.run_id
    inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
    where
        st.flow_slug = _task_records.p_flow_slug
        and st.message_id = any(_task_records.msg_ids)
        and st.status = 'started'
    order by st.message_id;
end;
$$;

-- ==== sql/0100_function__complete_tasks.sql ====
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

-- ==== sql/0100_function__refresh_task_statistics.sql ====
-- pgflow._refresh_task_statistics(inserted): analyzes pgflow.step_tasks when `inserted` tasks
-- (just added by the caller's statement) are at least 1,000 and more than the table was last known
-- to hold. Called by start_ready_steps and _start_ready_steps_of_runs after inserting tasks.
-- Why: worker sessions plan their statements from step_tasks' statistics. On a fresh or small
-- table those say "a handful of rows", and plans kept from them crawl once a big map lands
-- (measured: the first 10,000-element map of a new database took 25 s, later ones 4-5 s). Other
-- sessions replan when the caller's transaction commits. It happens only while the table is small
-- next to the map, so a warm database never pays for it. A caller that does not own the table
-- gets PostgreSQL's "skipping" warning and nothing else. Locks nothing beyond ANALYZE's own.
create or replace function pgflow._refresh_task_statistics(inserted int)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if _refresh_task_statistics.inserted >= 1000 and _refresh_task_statistics.inserted > (
        select c.reltuples from pg_catalog.pg_class as c where c.oid = 'pgflow.step_tasks'::regclass
    ) then
        analyze pgflow.step_tasks;
    end if;
end;
$$;

-- ==== sql/0100_function__start_ready_steps_of_runs.sql ====
-- pgflow._start_ready_steps_of_runs(run_ids, started_run_ids, started_step_slugs): start_ready_steps
-- for several runs in one pass: every step of a started run among run_ids that is ready (status
-- created, remaining_deps = 0, initial_tasks > 0) becomes started (started_at, remaining_tasks =
-- initial_tasks); the steps given as (started_run_ids[i], started_step_slugs[i]) were flipped so
-- by the caller already (complete_tasks_count does it in the update that makes them ready) and
-- are finished here the same way. For all of them: the step:<slug>:started broadcast (per run in
-- step_index order), one message per task ({"flow_slug","run_id","step_slug","task_index"}) and
-- its step_tasks row. One pgmq.send_batch per (flow, start delay) for all the runs instead of one
-- per step, message ids paired with tasks by position (runs, then steps by slug, then task_index,
-- as start_ready_steps called run after run would send them). pg_notify('pgflow_tasks',
-- flow_slug) once per flow with messages visible at once.
-- Called by complete_tasks_count (the result is that of start_ready_steps on each run, in run
-- order).
-- Locks the ready step_states rows (ordered by run_id, step_slug); callers hold the runs' rows and
-- the rows of the steps they started.
-- Raises nothing of its own.
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
as $$
declare
    v_visible text [];
    v_inserted int;
    v_claimed bigint [];
    v_claim_flow text;
begin
    if coalesce(cardinality(_start_ready_steps_of_runs.run_ids), 0) = 0
        and coalesce(cardinality(_start_ready_steps_of_runs.started_run_ids), 0) = 0 then
        return '{}';
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
        cross join lateral pgmq.send_batch(
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
    perform pgflow._refresh_task_statistics(coalesce(v_inserted, 0));

    -- Worker wake-up: one notification per flow with messages visible now
    perform pg_notify('pgflow_tasks', v.flow_slug) from unnest(v_visible) as v (flow_slug);

    return v_claimed;
end;
$$;

-- ==== sql/0100_function__start_tasks.sql ====
-- pgflow._start_tasks(p_flow_slug, msg_ids, worker_id, set_vt): pgflow.start_tasks' work, with the
-- visibility step optional. For the messages a worker read from the flow's queue, starts the tasks
-- that may run and returns what their handlers need (pgflow.step_task_record's columns plus the
-- task's attempts_count after starting, one row per started task, ordered by msg_id).
-- Eligible: step_tasks of this flow whose message_id is in msg_ids, status queued, run started and
-- step started. Other ids are ignored silently (no archive, no vt change).
-- Started tasks: attempts_count + 1, started_at now(), last_worker_id = worker_id (FK to
-- pgflow.workers: register the worker first). With set_vt their messages become invisible for
-- coalesce(step.opt_timeout, flow.opt_timeout) + 2 seconds (pgflow's intent; its own CTE for this
-- never ran, spec §13 quirk 1) via set_vt_batch, so a slow handler is not re-read mid-flight;
-- pgflow.read_and_start_tasks passes false when its read already gave them that visibility.
-- Inputs (§6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- Called by pgflow.start_tasks and pgflow.read_and_start_tasks.
-- Locks the eligible step_tasks rows (ordered by run, step, task index) and their queue messages.
-- Raises nothing of its own (unknown worker_id violates step_tasks_last_worker_id_fkey).
create or replace function pgflow._start_tasks(p_flow_slug text, msg_ids bigint [], worker_id uuid, set_vt boolean)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int
)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_msg_ids bigint[];
    v_vt_offsets integer[];
begin
    -- LOCKS: the eligible tasks, in key order (two workers holding the same messages after a vt
    -- expiry lock them in the same order)
    select coalesce(array_agg(e.message_id), '{}') into v_msg_ids
    from (
        select st.message_id
        from pgflow.step_tasks as st
        inner join pgflow.runs as r on r.run_id = st.run_id
        inner join pgflow.step_states as ss on ss.run_id = st.run_id and ss.step_slug = st.step_slug
        where
            st.flow_slug = _start_tasks.p_flow_slug
            and st.message_id = any(_start_tasks.msg_ids)
            and st.status = 'queued'
            and r.status = 'started'
            and ss.status = 'started'
        order by st.run_id, st.step_slug, st.task_index
        for update of st
    ) as e;

    -- MAIN: start them (compare-and-set on status queued). Addressed by message id rather than by
    -- a join back to the locked rows: one index probe per id whatever the table statistics say.
    with started as (
        update pgflow.step_tasks as st
        set
            status = 'started',
            attempts_count = st.attempts_count + 1,
            started_at = now(),
            last_worker_id = _start_tasks.worker_id
        where
            st.flow_slug = _start_tasks.p_flow_slug
            and st.message_id = any(v_msg_ids)
            and st.status = 'queued'
        returning st.message_id, st.step_slug
    )

    select
        coalesce(array_agg(sd.message_id order by sd.message_id), '{}'),
        coalesce(array_agg(coalesce(s.opt_timeout, f.opt_timeout) + 2 order by sd.message_id), '{}')
    into v_msg_ids, v_vt_offsets
    from started as sd
    inner join pgflow.steps as s on s.flow_slug = _start_tasks.p_flow_slug and s.step_slug = sd.step_slug
    inner join pgflow.flows as f on f.flow_slug = _start_tasks.p_flow_slug;

    if cardinality(v_msg_ids) = 0 then
        return;
    end if;

    -- Visibility: the handler owns the message for the task timeout plus a 2 s margin
    if _start_tasks.set_vt then
        perform 1 from pgflow.set_vt_batch(_start_tasks.p_flow_slug, v_msg_ids, v_vt_offsets) as v;
    end if;

    return query select * from pgflow._task_records(_start_tasks.p_flow_slug, v_msg_ids);
end;
$$;

-- ==== sql/0100_function_add_step.sql ====
-- pgflow.add_step(...): appends a step (a DAG node) and its dependencies (edges) to a flow.
-- Called by users, compiled DSL output and _create_flow_from_shape.
-- Steps must be added in topological order: every dependency must already exist (FK).
-- Idempotent: re-adding an existing step returns the existing row untouched (options and
-- deps_count are not updated) and inserts only dependency rows it did not have, as pgflow does;
-- an edge that would close a cycle (a descendant of the step as its dependency) is refused.
-- Locks: the flows row (FOR UPDATE) so that concurrent add_step calls get distinct step_index.
-- Raises: `Adding dependencies [...] to step "<s>" of flow "<f>" would create a cycle`; `Map step "<s>" can have at most one dependency, ...`;
-- `null value in column "dep_slug" of relation "deps" violates not-null constraint` (a NULL in deps_slugs); constraint violations named in
-- the contract (steps_flow_slug_fkey, deps_flow_slug_dep_slug_fkey, deps_check,
-- steps_step_slug_check, steps_step_type_check, when_unmet_is_valid, ...).
create or replace function pgflow.add_step(
    flow_slug text,
    step_slug text,
    deps_slugs text[] default '{}',
    max_attempts int default null,
    base_delay int default null,
    timeout int default null,
    start_delay int default null,
    step_type text default 'single',
    required_input_pattern jsonb default null,
    forbidden_input_pattern jsonb default null,
    when_unmet text default 'skip',
    when_exhausted text default 'fail'
)
returns pgflow.steps
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_step_type text := coalesce(add_step.step_type, 'single');
    v_deps text[];
    v_existing_deps text[];
    v_step pgflow.steps;
begin
    -- GUARD: a map step takes one dependency, counted as given (the same slug twice is two)
    if v_step_type = 'map' and coalesce(cardinality(add_step.deps_slugs), 0) > 1 then
        raise exception 'Map step "%" can have at most one dependency, but % were provided: %',
            add_step.step_slug, cardinality(add_step.deps_slugs), array_to_string(add_step.deps_slugs, ', ');
    end if;

    -- GUARD: no NULL dependency (what the deps insert would raise; raised before anything is written)
    if array_position(add_step.deps_slugs, null) is not null then
        raise exception 'null value in column "dep_slug" of relation "deps" violates not-null constraint'
            using
                errcode = 'not_null_violation',
                schema = 'pgflow',
                table = 'deps',
                column = 'dep_slug',
                hint = 'deps_slugs must not contain NULL.';
    end if;

    -- Distinct dependency slugs, in the order given: a slug given twice is one edge and counts
    -- once in deps_count (pgflow counts it twice, and that step could never start)
    select coalesce(array_agg(d.slug order by d.ord), '{}')
    into v_deps
    from (
        select u.slug, min(u.ord) as ord
        from unnest(add_step.deps_slugs) with ordinality as u (slug, ord)
        group by u.slug
    ) as d;

    -- LOCKS: serialize step_index allocation per flow (no row: the insert raises the FK error)
    perform 1 from pgflow.flows as f where f.flow_slug = add_step.flow_slug for update;

    select * into v_step
    from pgflow.steps as s
    where s.flow_slug = add_step.flow_slug and s.step_slug = add_step.step_slug;

    if v_step.step_slug is not null then
        -- pgflow inserts new edges of an existing step and leaves the row (and deps_count) as it was;
        -- we do the same, but refuse an edge that would close a cycle (a descendant as dependency).
        select array_agg(d.slug order by d.slug) into v_existing_deps
        from unnest(v_deps) as d (slug)
        where d.slug in (
            with recursive descendants (slug) as (
                select dd.step_slug from pgflow.deps as dd
                where dd.flow_slug = add_step.flow_slug and dd.dep_slug = add_step.step_slug
                union
                select dd.step_slug from pgflow.deps as dd
                join descendants as x on dd.dep_slug = x.slug
                where dd.flow_slug = add_step.flow_slug
            )
            select x.slug from descendants as x
        );
        if v_existing_deps is not null then
            raise exception 'Adding dependencies [%] to step "%" of flow "%" would create a cycle',
                array_to_string(v_existing_deps, ', '), add_step.step_slug, add_step.flow_slug
                using hint = 'Steps are added in topological order: a step may only depend on steps added before it.';
        end if;

        insert into pgflow.deps (flow_slug, dep_slug, step_slug)
        select add_step.flow_slug, d.slug, add_step.step_slug
        from unnest(v_deps) as d (slug)
        on conflict on constraint deps_pkey do nothing;
        return v_step;
    end if;

    -- MAIN: the node, then its edges (the node first, so a self-dependency hits deps_check)
    insert into pgflow.steps as s (
        flow_slug, step_slug, step_type, step_index, deps_count,
        opt_max_attempts, opt_base_delay, opt_timeout, opt_start_delay,
        required_input_pattern, forbidden_input_pattern, when_unmet, when_exhausted
    )
    values (
        add_step.flow_slug,
        add_step.step_slug,
        v_step_type,
        coalesce(
            (select max(s2.step_index) + 1 from pgflow.steps as s2 where s2.flow_slug = add_step.flow_slug), 0
        ),
        cardinality(v_deps),
        add_step.max_attempts,
        add_step.base_delay,
        add_step.timeout,
        add_step.start_delay,
        add_step.required_input_pattern,
        add_step.forbidden_input_pattern,
        add_step.when_unmet,
        add_step.when_exhausted
    )
    returning * into v_step;

    insert into pgflow.deps (flow_slug, dep_slug, step_slug)
    select add_step.flow_slug, d.slug, add_step.step_slug
    from unnest(v_deps) as d (slug)
    on conflict on constraint deps_pkey do nothing;

    return v_step;
end;
$$;

-- ==== sql/0100_function_cascade_resolve_conditions.sql ====
-- pgflow.cascade_resolve_conditions(run_id): evaluates the conditions (required_input_pattern /
-- forbidden_input_pattern) of the run's steps that just became ready, and applies when_unmet to
-- those whose condition is not met. Returns true when the run may continue, false when it is
-- failed (already, or by a when_unmet 'fail' step); true for an unknown run (nothing to resolve).
-- Candidate: step_state 'created', remaining_deps 0, at least one pattern set. Value evaluated:
-- the run input for a root step (deps_count 0), else {dep_slug: output} of its COMPLETED deps
-- ({} if none). Met <=> (required IS NULL OR value @> required)
--                     AND (forbidden IS NULL OR NOT value @> forbidden).
-- Each pass, in this order:
--   fail:         the unmet 'fail' candidate with the lowest step_index -> step failed, run
--                 failed, `step:<slug>:failed` then `run:failed` (error_message 'Condition not
--                 met'), every queued/started message of the run archived; return false.
--   skip:         all unmet 'skip' candidates skipped in one statement (condition_unmet);
--                 children's remaining_deps -= skipped parents, single-dep map children get
--                 initial_tasks 0; run.remaining_steps -= skipped.
--   skip-cascade: unmet 'skip-cascade' candidates (re-evaluated after the skip pass, so steps it
--                 unblocked count) -> _cascade_force_skip_steps(run, slug, 'condition_unmet').
-- Passes repeat while the skip pass skipped something (its children may now be candidates).
-- Called by start_flow, complete_task and fail_task (which already hold the run lock).
-- LOCKS: the run row (FOR UPDATE), then the step_states rows it updates.
-- Raises: `cascade_resolve_conditions exceeded safety limit of 50 iterations`.
create or replace function pgflow.cascade_resolve_conditions(run_id uuid)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow_slug text;
    v_status text;
    v_input jsonb;
    v_iterations int := 0;
    v_fail_slug text;
    v_skip_slugs text[];
    v_cascade_slugs text[];
    v_cascade_slug text;
    v_failed_at timestamptz;
    v_skipped jsonb;
    v_skipped_count int;
begin
    -- GUARD + LOCKS
    select r.flow_slug, r.status, r.input into v_flow_slug, v_status, v_input
    from pgflow.runs as r
    where r.run_id = cascade_resolve_conditions.run_id
    for update;

    -- an unknown run has nothing to resolve: true, as the contract's algorithm gives
    if v_status = 'failed' then
        return false;
    elsif v_status is null or v_status = 'completed' then
        return true;
    end if;

    loop
        v_iterations := v_iterations + 1;
        if v_iterations > 50 then
            raise exception 'cascade_resolve_conditions exceeded safety limit of 50 iterations';
        end if;

        -- Unmet candidates of this pass, by mode, in step_index order
        select
            (array_agg(u.step_slug order by u.step_index) filter (where u.when_unmet = 'fail'))[1],
            coalesce(array_agg(u.step_slug order by u.step_index) filter (where u.when_unmet = 'skip'), '{}')
        into v_fail_slug, v_skip_slugs
        from (
            select ss.step_slug, s.step_index, s.when_unmet
            from pgflow.step_states as ss
            inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
            cross join lateral (
                select case
                    when s.deps_count = 0 then v_input
                    else coalesce(
                        (
                            select jsonb_object_agg(d.dep_slug, ds.output)
                            from pgflow.deps as d
                            inner join pgflow.step_states as ds
                                on ds.run_id = ss.run_id and ds.step_slug = d.dep_slug
                            where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug and ds.status = 'completed'
                        ),
                        '{}'::jsonb
                    )
                end as value
            ) as v
            where
                ss.run_id = cascade_resolve_conditions.run_id
                and ss.status = 'created'
                and ss.remaining_deps = 0
                and (s.required_input_pattern is not null or s.forbidden_input_pattern is not null)
                and not (
                    (s.required_input_pattern is null or v.value @> s.required_input_pattern)
                    and (s.forbidden_input_pattern is null or not v.value @> s.forbidden_input_pattern)
                )
        ) as u;

        -- FAIL PASS: the first unmet 'fail' step fails the run
        if v_fail_slug is not null then
            update pgflow.step_states as ss
            set status = 'failed', failed_at = now(), error_message = 'Condition not met'
            where
                ss.run_id = cascade_resolve_conditions.run_id
                and ss.step_slug = v_fail_slug
                and ss.status = 'created'
            returning ss.failed_at into v_failed_at;

            perform pgflow._emit_event(
                'step:' || v_fail_slug || ':failed',
                jsonb_build_object(
                    'event_type', 'step:failed',
                    'run_id', cascade_resolve_conditions.run_id,
                    'step_slug', v_fail_slug,
                    'status', 'failed',
                    'error_message', 'Condition not met',
                    'failed_at', v_failed_at
                )
            );

            update pgflow.runs as r
            set status = 'failed', failed_at = now()
            where r.run_id = cascade_resolve_conditions.run_id and r.status = 'started'
            returning r.failed_at into v_failed_at;

            if found then
                perform pgflow._emit_event(
                    'run:failed',
                    jsonb_build_object(
                        'event_type', 'run:failed',
                        'run_id', cascade_resolve_conditions.run_id,
                        'flow_slug', v_flow_slug,
                        'status', 'failed',
                        'error_message', 'Condition not met',
                        'failed_at', v_failed_at
                    )
                );
                perform pgflow._archive_run_messages(cascade_resolve_conditions.run_id);
            end if;
            return false;
        end if;

        -- SKIP PASS: one statement skips the wave and unblocks the children. The data-modifying
        -- CTEs (children, run_update) run to completion whether or not the final select reads them.
        with skipped as (
            update pgflow.step_states as ss
            set status = 'skipped', skip_reason = 'condition_unmet', skipped_at = now()
            where
                ss.run_id = cascade_resolve_conditions.run_id
                and ss.step_slug = any(v_skip_slugs)
                and ss.status = 'created'
            returning ss.step_slug, ss.skipped_at
        ),

        child_counts as (
            select d.step_slug, count(*)::int as skipped_parents
            from pgflow.deps as d
            inner join skipped as sk on sk.step_slug = d.dep_slug
            where d.flow_slug = v_flow_slug
            group by d.step_slug
        ),

        children as (
            update pgflow.step_states as cs
            set remaining_deps = cs.remaining_deps - cc.skipped_parents,
                initial_tasks = case
                    when c.step_type = 'map' and c.deps_count = 1 then 0
                    else cs.initial_tasks
                end
            from child_counts as cc
            inner join pgflow.steps as c on c.flow_slug = v_flow_slug and c.step_slug = cc.step_slug
            where cs.run_id = cascade_resolve_conditions.run_id and cs.step_slug = cc.step_slug
            returning cs.step_slug
        ),

        run_update as (
            update pgflow.runs as r
            set remaining_steps = r.remaining_steps - (select count(*) from skipped)
            where r.run_id = cascade_resolve_conditions.run_id and exists (select 1 from skipped)
            returning r.run_id
        )

        select
            coalesce(
                jsonb_agg(
                    jsonb_build_object(
                        'event_type', 'step:skipped',
                        'run_id', cascade_resolve_conditions.run_id,
                        'flow_slug', v_flow_slug,
                        'step_slug', sk.step_slug,
                        'status', 'skipped',
                        'skip_reason', 'condition_unmet',
                        'skipped_at', sk.skipped_at
                    )
                    order by s.step_index
                ),
                '[]'::jsonb
            ),
            count(*)::int
        into v_skipped, v_skipped_count
        from skipped as sk
        inner join pgflow.steps as s on s.flow_slug = v_flow_slug and s.step_slug = sk.step_slug;

        perform pgflow._emit_event('step:' || (e.payload ->> 'step_slug') || ':skipped', e.payload)
        from jsonb_array_elements(v_skipped) with ordinality as e (payload, ord)
        order by e.ord;

        -- SKIP-CASCADE PASS: re-evaluated, so steps unblocked by the skip pass are included
        select coalesce(array_agg(ss.step_slug order by s.step_index), '{}')
        into v_cascade_slugs
        from pgflow.step_states as ss
        inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        cross join lateral (
            select case
                when s.deps_count = 0 then v_input
                else coalesce(
                    (
                        select jsonb_object_agg(d.dep_slug, ds.output)
                        from pgflow.deps as d
                        inner join pgflow.step_states as ds
                            on ds.run_id = ss.run_id and ds.step_slug = d.dep_slug
                        where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug and ds.status = 'completed'
                    ),
                    '{}'::jsonb
                )
            end as value
        ) as v
        where
            ss.run_id = cascade_resolve_conditions.run_id
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and s.when_unmet = 'skip-cascade'
            and (s.required_input_pattern is not null or s.forbidden_input_pattern is not null)
            and not (
                (s.required_input_pattern is null or v.value @> s.required_input_pattern)
                and (s.forbidden_input_pattern is null or not v.value @> s.forbidden_input_pattern)
            );

        foreach v_cascade_slug in array v_cascade_slugs loop
            perform pgflow._cascade_force_skip_steps(
                cascade_resolve_conditions.run_id, v_cascade_slug, 'condition_unmet'
            );
        end loop;

        select r.status into v_status from pgflow.runs as r where r.run_id = cascade_resolve_conditions.run_id;
        if v_status = 'failed' then
            return false;
        elsif v_status = 'completed' then
            return true;
        end if;

        exit when v_skipped_count = 0;
    end loop;

    return true;
end;
$$;

-- ==== sql/0100_function_complete_task.sql ====
-- pgflow.complete_task(run_id, step_slug, task_index, output): a worker reports a task's result.
-- Returns the task row (empty when the task is unknown).
-- Order of business (spec §8.5):
--   * run failed -> return the row, nothing else (no archive);
--   * step not started (late or duplicate callback) -> archive the task's message, return the row;
--   * type violation: a single step whose output is not a JSON array (or is NULL) while a map
--     child still waits for its length (initial_tasks NULL) fails the whole run at once, whatever
--     the retry settings: run failed (run:failed, no error_message), every message of the run
--     archived, the task failed with the offending output stored, the step failed
--     (step:<slug>:failed with a [TYPE_VIOLATION] message). Checked before the task's own status.
--   * otherwise the task completes only if it is started (compare-and-set); the step's
--     remaining_tasks drops; the last task completes the step with its output (single: the task
--     output; map: task outputs ordered by task_index, written once), dependents lose a
--     remaining dep (a dependent map learns its task count), run.remaining_steps drops,
--     step:<slug>:completed is broadcast before anything it unblocks; then
--     cascade_resolve_conditions -> cascade_complete_taskless_steps (both repeated while the
--     cascade completes steps) -> (archive message) -> start_ready_steps -> maybe_complete_run.
-- A bounded number of statements whatever the DAG width or map size.
-- Called by workers.
-- LOCKS: the run row, then the step_states row (FOR UPDATE), then the task row, then dependents'
-- step_states rows. Every writer of a run takes the run row first, so sibling completions
-- serialize instead of deadlocking.
-- Raises nothing of its own (cascade functions may raise their safety-limit errors).
create or replace function pgflow.complete_task(run_id uuid, step_slug text, task_index int, output jsonb)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
    v_state pgflow.step_states;
    v_step pgflow.steps;
    v_task pgflow.step_tasks;
    v_map_child text;
    v_output_type text;
    v_has_conditions boolean;
begin
    -- LOCKS: run, then step state
    select * into v_run
    from pgflow.runs as r
    where r.run_id = complete_task.run_id
    for update;

    if v_run.run_id is null or v_run.status = 'failed' then
        return query
        select * from pgflow.step_tasks as st
        where
            st.run_id = complete_task.run_id
            and st.step_slug = complete_task.step_slug
            and st.task_index = complete_task.task_index;
        return;
    end if;

    select * into v_state
    from pgflow.step_states as ss
    where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
    for update;

    -- GUARD: late or duplicate callback (step completed, failed or skipped): no state change
    if v_state.run_id is null or v_state.status <> 'started' then
        perform pgflow._archive_task_message(complete_task.run_id, complete_task.step_slug, complete_task.task_index);
        return query
        select * from pgflow.step_tasks as st
        where
            st.run_id = complete_task.run_id
            and st.step_slug = complete_task.step_slug
            and st.task_index = complete_task.task_index;
        return;
    end if;

    select * into v_step
    from pgflow.steps as s
    where s.flow_slug = v_state.flow_slug and s.step_slug = v_state.step_slug;

    -- GUARD: type violation (a map child needs an array from this single step)
    if v_step.step_type = 'single' and coalesce(jsonb_typeof(complete_task.output), 'null') <> 'array' then
        select cs.step_slug into v_map_child
        from pgflow.deps as d
        inner join pgflow.steps as cs on cs.flow_slug = d.flow_slug and cs.step_slug = d.step_slug
        inner join pgflow.step_states as css on css.run_id = complete_task.run_id and css.step_slug = cs.step_slug
        where
            d.flow_slug = v_state.flow_slug
            and d.dep_slug = complete_task.step_slug
            and cs.step_type = 'map'
            and css.initial_tasks is null
        order by cs.step_index
        limit 1;

        if v_map_child is not null then
            v_output_type := coalesce(jsonb_typeof(complete_task.output), 'null');

            update pgflow.runs as r
            set status = 'failed', failed_at = now()
            where r.run_id = complete_task.run_id
            returning r.* into v_run;

            perform pgflow._emit_event(
                'run:failed',
                jsonb_build_object(
                    'event_type', 'run:failed',
                    'run_id', v_run.run_id,
                    'flow_slug', v_run.flow_slug,
                    'status', v_run.status,
                    'failed_at', v_run.failed_at
                )
            );

            perform pgflow._archive_run_messages(complete_task.run_id);

            update pgflow.step_tasks as st
            set
                status = 'failed',
                failed_at = now(),
                output = complete_task.output,
                error_message = '[TYPE_VIOLATION] Produced ' || v_output_type || ' instead of array'
            where
                st.run_id = complete_task.run_id
                and st.step_slug = complete_task.step_slug
                and st.task_index = complete_task.task_index;

            update pgflow.step_states as ss
            set
                status = 'failed',
                failed_at = now(),
                error_message = '[TYPE_VIOLATION] Map step ' || v_map_child
                || ' expects array input but dependency ' || complete_task.step_slug
                || ' produced ' || v_output_type
            where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
            returning ss.* into v_state;

            perform pgflow._emit_event(
                'step:' || v_state.step_slug || ':failed',
                jsonb_build_object(
                    'event_type', 'step:failed',
                    'run_id', v_state.run_id,
                    'step_slug', v_state.step_slug,
                    'status', v_state.status,
                    'error_message', v_state.error_message,
                    'failed_at', v_state.failed_at
                )
            );

            perform pgflow._archive_task_message(complete_task.run_id, complete_task.step_slug, complete_task.task_index);

            return query
            select * from pgflow.step_tasks as st
            where
                st.run_id = complete_task.run_id
                and st.step_slug = complete_task.step_slug
                and st.task_index = complete_task.task_index;
            return;
        end if;
    end if;

    -- MAIN: the task (only a started task completes; a queued one is a stale attempt)
    update pgflow.step_tasks as st
    set status = 'completed', completed_at = now(), output = complete_task.output
    where
        st.run_id = complete_task.run_id
        and st.step_slug = complete_task.step_slug
        and st.task_index = complete_task.task_index
        and st.status = 'started'
    returning st.* into v_task;

    if v_task.run_id is null then
        return query
        select * from pgflow.step_tasks as st
        where
            st.run_id = complete_task.run_id
            and st.step_slug = complete_task.step_slug
            and st.task_index = complete_task.task_index;
        return;
    end if;

    -- The step: count down; the last task completes it and writes its output once. Three plain
    -- statements rather than one with CASE arms: each keeps one cached generic plan, and a
    -- countdown never reads the sibling tasks.
    if v_state.remaining_tasks is distinct from 1 then
        update pgflow.step_states as ss
        set remaining_tasks = ss.remaining_tasks - 1
        where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
        returning ss.* into v_state;
    elsif v_step.step_type = 'map' then
        update pgflow.step_states as ss
        set
            remaining_tasks = 0,
            status = 'completed',
            completed_at = now(),
            output = (
                select coalesce(jsonb_agg(t.output order by t.task_index), '[]'::jsonb)
                from pgflow.step_tasks as t
                where
                    t.run_id = complete_task.run_id
                    and t.step_slug = complete_task.step_slug
                    and t.status = 'completed'
            )
        where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
        returning ss.* into v_state;
    else
        update pgflow.step_states as ss
        set remaining_tasks = 0, status = 'completed', completed_at = now(), output = complete_task.output
        where ss.run_id = complete_task.run_id and ss.step_slug = complete_task.step_slug
        returning ss.* into v_state;
    end if;

    if v_state.status = 'completed' then
        perform pgflow._emit_event(
            'step:' || v_state.step_slug || ':completed',
            jsonb_build_object(
                'event_type', 'step:completed',
                'run_id', v_state.run_id,
                'step_slug', v_state.step_slug,
                'status', v_state.status,
                'output', v_state.output,
                'completed_at', v_state.completed_at
            )
        );

        -- Dependents: one dep fewer; a dependent map learns how many tasks it has
        update pgflow.step_states as cs
        set
            remaining_deps = cs.remaining_deps - 1,
            initial_tasks = case
                when cs_step.step_type = 'map' and cs.initial_tasks is null then
                    -- nested CASE: the planner folds constant arms, the array check must come first
                    case when jsonb_typeof(v_state.output) = 'array' then jsonb_array_length(v_state.output) end
                else cs.initial_tasks
            end
        from pgflow.deps as d, pgflow.steps as cs_step
        where
            d.flow_slug = v_state.flow_slug
            and d.dep_slug = v_state.step_slug
            and cs_step.flow_slug = d.flow_slug
            and cs_step.step_slug = d.step_slug
            and cs.run_id = v_state.run_id
            and cs.step_slug = d.step_slug;

        update pgflow.runs as r
        set remaining_steps = r.remaining_steps - 1
        where r.run_id = complete_task.run_id;

        -- Conditions of the steps this unblocked, then steps with nothing to do; repeated so that
        -- steps unblocked by the taskless cascade are evaluated before they start (spec §13
        -- quirk 3: pgflow starts them unevaluated). Each extra pass completes at least one step.
        -- Both cascades are skipped where they cannot find anything (same result, two function
        -- calls and their statements saved on the hot path): conditions when no step of the flow
        -- has one; the taskless wave when no step is created, unblocked and taskless.
        v_has_conditions := exists (
            select 1
            from pgflow.steps as s
            where
                s.flow_slug = v_state.flow_slug
                and (s.required_input_pattern is not null or s.forbidden_input_pattern is not null)
        );
        loop
            if v_has_conditions and not pgflow.cascade_resolve_conditions(complete_task.run_id) then
                perform pgflow._archive_task_message(
                    complete_task.run_id, complete_task.step_slug, complete_task.task_index
                );
                return query select v_task.*;
                return;
            end if;
            exit when not exists (
                select 1
                from pgflow.step_states as ss
                where
                    ss.run_id = complete_task.run_id
                    and ss.status = 'created'
                    and ss.remaining_deps = 0
                    and ss.initial_tasks = 0
            );
            exit when pgflow.cascade_complete_taskless_steps(complete_task.run_id) = 0;
        end loop;
    end if;

    -- The task's message (what _archive_task_message would look up, already in hand)
    if v_task.message_id is not null then
        perform pgmq.archive(v_task.flow_slug, v_task.message_id);
    end if;

    perform pgflow.start_ready_steps(complete_task.run_id);
    perform pgflow.maybe_complete_run(complete_task.run_id);

    return query select v_task.*;
end;
$$;

-- ==== sql/0100_function_complete_tasks.sql ====
-- pgflow.complete_tasks(run_ids, step_slugs, task_indexes, outputs): pgflow.complete_tasks_count's
-- batch (same effect: pgflow.complete_task for every item, in (run_id, step_slug, task_index)
-- order, in one transaction), then the final step_tasks row of every known item (unknown items: no
-- row; a task given twice: one row). Not part of pgflow's API: beside pgflow.complete_task.
-- Called by pgflow-py's clients (PgflowSqlClient.complete_tasks).
-- Locks as pgflow.complete_tasks_count.
-- Raises `run_ids, step_slugs, task_indexes and outputs must have the same length (<a>, <b>, <c>, <d>)`;
-- whatever complete_task raises (then nothing of the batch is applied).
create or replace function pgflow.complete_tasks(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb []
)
returns setof pgflow.step_tasks
language plpgsql
volatile
set search_path = ''
as $$
begin
    perform pgflow.complete_tasks_count(
        complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes, complete_tasks.outputs
    );

    return query
    select st.*
    from pgflow.step_tasks as st
    where (st.run_id, st.step_slug, st.task_index) in (
        select u.run_id, u.step_slug, u.task_index
        from unnest(complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes)
            as u (run_id, step_slug, task_index)
    );
end;
$$;

-- ==== sql/0100_function_complete_tasks_and_claim.sql ====
-- pgflow.complete_tasks_and_claim(run_ids, step_slugs, task_indexes, outputs, worker_id, qty): a
-- worker reports several task results (pgflow.complete_tasks_count's effect) and takes, in the same
-- transaction, up to qty of the tasks these results make ready in its own flow (the queue of
-- worker_id in pgflow.workers), steps without start delay, first ones first: they are inserted
-- started by worker_id (attempts_count 1) and their messages sent invisible for the step's
-- timeout + 2 s, which is what reading and starting them would have done, without the read, the
-- second write of each task, or the round trip. A chain's next step thus runs on the worker that
-- finished the previous one, at once. Other new tasks are queued and visible as usual. Not part of
-- pgflow's API (pgmq.read + pgflow.start_tasks + pgflow.complete_task are the contract calls).
-- Returns the claimed tasks as pgflow.read_and_start_tasks returns started ones (its columns; the
-- message fields as the queue holds them, read_ct 0), ordered by msg_id.
-- Called by the pgflow-py worker.
-- Locks and raises as pgflow._complete_tasks (unknown worker_id: nothing is claimed).
-- Planning: random_page_cost = 1.1, as in pgflow._complete_tasks (which says why).
create or replace function pgflow.complete_tasks_and_claim(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb [], worker_id uuid, qty integer
)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int,
    read_ct int,
    enqueued_at timestamptz,
    message_vt timestamptz,
    message jsonb
)
language plpgsql
volatile
set search_path = ''
set random_page_cost = 1.1
as $$
declare
    v_claimed bigint [];
    v_flow text;
    v_ids bigint [];
    v_read_cts int [];
    v_enqueued timestamptz [];
    v_vts timestamptz [];
    v_messages jsonb [];
begin
    select c.claimed into v_claimed
    from pgflow._complete_tasks(
        complete_tasks_and_claim.run_ids, complete_tasks_and_claim.step_slugs,
        complete_tasks_and_claim.task_indexes, complete_tasks_and_claim.outputs,
        complete_tasks_and_claim.worker_id, coalesce(complete_tasks_and_claim.qty, 0)
    ) as c;

    if coalesce(cardinality(v_claimed), 0) = 0 then
        return;
    end if;

    select w.queue_name into v_flow
    from pgflow.workers as w
    where w.worker_id = complete_tasks_and_claim.worker_id;

    -- the messages as sent (the queue's table is the flow's)
    execute format(
        'select array_agg(q.msg_id order by q.msg_id), array_agg(q.read_ct order by q.msg_id), '
        'array_agg(q.enqueued_at order by q.msg_id), '
        'array_agg(q.vt order by q.msg_id), array_agg(q.message order by q.msg_id) '
        'from pgmq.%I as q where q.msg_id = any($1)',
        pgmq.format_table_name(v_flow, 'q')
    ) into v_ids, v_read_cts, v_enqueued, v_vts, v_messages using v_claimed;

    return query
    select
        t.flow_slug,
        t.run_id,
        t.step_slug,
        t.input,
        t.msg_id,
        t.task_index,
        t.flow_input,
        t.attempts_count,
        m.read_ct,
        m.enqueued_at,
        m.vt,
        m.message
    from pgflow._task_records(v_flow, v_claimed) as t
    inner join unnest(v_ids, v_read_cts, v_enqueued, v_vts, v_messages)
        as m (msg_id, read_ct, enqueued_at, vt, message)
        on m.msg_id = t.msg_id
    order by t.msg_id;
end;
$$;

-- ==== sql/0100_function_complete_tasks_count.sql ====
-- pgflow.complete_tasks_count(run_ids, step_slugs, task_indexes, outputs): a worker reports several
-- task results in one call (one round trip, one transaction). Not part of pgflow's API: beside
-- pgflow.complete_task, whose effect it has for every item (item i is (run_ids[i], step_slugs[i],
-- task_indexes[i], outputs[i]), applied in (run_id, step_slug, task_index) order); returns the
-- number of distinct known tasks among the items (unknown ones: not counted; a task given twice:
-- once). The work is pgflow._complete_tasks'; pgflow.complete_tasks is the same with the rows read
-- back, pgflow.complete_tasks_and_claim the same handing the worker the tasks it makes ready.
-- Called by pgflow-py's worker when it does not claim (and by any client).
-- Locks and raises as pgflow._complete_tasks: `run_ids, step_slugs, task_indexes and outputs must
-- have the same length (<a>, <b>, <c>, <d>)`; whatever complete_task raises (then nothing of the
-- batch is applied).
create or replace function pgflow.complete_tasks_count(
    run_ids uuid [], step_slugs text [], task_indexes int [], outputs jsonb []
)
returns int
language plpgsql
volatile
set search_path = ''
as $$
begin
    return (
        select c.known
        from pgflow._complete_tasks(
            complete_tasks_count.run_ids, complete_tasks_count.step_slugs,
            complete_tasks_count.task_indexes, complete_tasks_count.outputs, null, 0
        ) as c
    );
end;
$$;

-- ==== sql/0100_function_read_and_start_tasks.sql ====
-- pgflow.read_and_start_tasks(queue_name, worker_id, vt, qty): both phases of polling in one call
-- (one round trip, one transaction): pgmq.read of up to qty visible messages of the flow's queue,
-- then pgflow.start_tasks' work on them (pgflow._start_tasks). Not part of pgflow's API: pgflow-py's
-- worker uses it; pgmq.read / read_with_poll followed by pgflow.start_tasks stay the contract and
-- have the same effect in two calls.
-- Returns one row per started task, ordered by msg_id: pgflow.step_task_record's columns, the
-- task's attempts_count after starting, and its message's read_ct, enqueued_at, vt (as the read set
-- it) and body.
-- Visibility: when every step of the flow has the same timeout (coalesce(step.opt_timeout,
-- flow.opt_timeout)), the read itself makes the messages invisible for that timeout + 2 s, which
-- is what start_tasks' set_vt_batch would set a moment later, so the queue is updated once. With
-- different timeouts the read uses vt and set_vt_batch follows, as in start_tasks. Messages read
-- but not started (task not queued, run or step not started) end with vt seconds of invisibility,
-- as after pgmq.read + start_tasks.
-- Called by the pgflow-py worker.
-- Locks the messages read (pgmq.read: FOR UPDATE SKIP LOCKED), then as pgflow.start_tasks.
-- Raises what pgmq.read raises for an unknown queue; what start_tasks raises (unknown worker_id
-- violates step_tasks_last_worker_id_fkey).
-- Planning: random_page_cost = 1.1 for this call and what it calls. Its statements reach a few
-- rows by key, rows just written and in shared buffers; with the default 4.0 the planner
-- preferred scanning a whole table of a thousand runs (or tasks) to ten index probes (seen with
-- auto_explain in benchmark scenario 2, 1,000 runs: sequential scans of runs and step_tasks in
-- up to eight statements per batch). Tables large enough, or small enough, plan the same either way.
create or replace function pgflow.read_and_start_tasks(queue_name text, worker_id uuid, vt integer, qty integer)
returns table (
    flow_slug text,
    run_id uuid,
    step_slug text,
    input jsonb,
    msg_id bigint,
    task_index int,
    flow_input jsonb,
    attempts_count int,
    read_ct int,
    enqueued_at timestamptz,
    message_vt timestamptz,
    message jsonb
)
language plpgsql
volatile
set search_path = ''
set random_page_cost = 1.1
as $$
declare
    v_final_vt int;
    v_ids bigint [];
    v_read_cts int [];
    v_enqueued timestamptz [];
    v_vts timestamptz [];
    v_messages jsonb [];
    v_started int;
    v_ignored bigint [];
begin
    -- MAIN: the read (visibility: the tasks' timeout + 2 s when it is one for the whole flow)
    select
        coalesce(array_agg(m.msg_id order by m.msg_id), '{}'),
        array_agg(m.read_ct order by m.msg_id),
        array_agg(m.enqueued_at order by m.msg_id),
        array_agg(m.vt order by m.msg_id),
        array_agg(m.message order by m.msg_id),
        max(o.final_vt)
    into v_ids, v_read_cts, v_enqueued, v_vts, v_messages, v_final_vt
    from (
        select case when min(t.timeout) = max(t.timeout) then max(t.timeout) + 2 end as final_vt
        from (
            select coalesce(s.opt_timeout, f.opt_timeout) as timeout
            from pgflow.flows as f
            inner join pgflow.steps as s on s.flow_slug = f.flow_slug
            where f.flow_slug = read_and_start_tasks.queue_name
        ) as t
    ) as o
    cross join lateral pgmq.read(
        read_and_start_tasks.queue_name,
        coalesce(o.final_vt, read_and_start_tasks.vt),
        read_and_start_tasks.qty
    ) as m;

    if cardinality(v_ids) = 0 then
        return;
    end if;

    -- then start_tasks' work (its set_vt_batch only when the read could not set the visibility)
    return query
    select
        t.flow_slug,
        t.run_id,
        t.step_slug,
        t.input,
        t.msg_id,
        t.task_index,
        t.flow_input,
        t.attempts_count,
        m.read_ct,
        m.enqueued_at,
        m.vt,
        m.message
    from pgflow._start_tasks(read_and_start_tasks.queue_name, v_ids, read_and_start_tasks.worker_id, v_final_vt is null)
        as t
    inner join unnest(v_ids, v_read_cts, v_enqueued, v_vts, v_messages) as m (msg_id, read_ct, enqueued_at, vt, message)
        on m.msg_id = t.msg_id
    order by t.msg_id;
    get diagnostics v_started = row_count;

    -- Messages read but not started keep the caller's visibility timeout, as with pgmq.read
    if v_final_vt is not null and v_started < cardinality(v_ids) then
        v_ignored := array(
            select i.id
            from unnest(v_ids) as i (id)
            where not exists (
                select 1
                from pgflow.step_tasks as st
                where
                    st.flow_slug = read_and_start_tasks.queue_name
                    and st.message_id = i.id
                    and st.status = 'started'
                    and st.last_worker_id = read_and_start_tasks.worker_id
                    and st.started_at = now()
            )
        );
        perform 1
        from pgflow.set_vt_batch(
            read_and_start_tasks.queue_name,
            v_ignored,
            array_fill(read_and_start_tasks.vt, array[cardinality(v_ignored)])
        ) as v;
    end if;
end;
$$;

-- ==== sql/0100_function_requeue_stalled_tasks.sql ====
-- pgflow.requeue_stalled_tasks(): recovers tasks whose worker died. Called every 15 seconds by
-- the cron job pgflow_requeue_stalled_tasks, or by a worker/operator on plain PostgreSQL.
--
-- A task is stalled when it is `started`, not yet permanently stalled, and
-- started_at < now() - (flow.opt_timeout + 30) s: the flow's timeout only, a step's own
-- opt_timeout is not used (the contract's rule, spec section 6.1). Nothing else is checked: a
-- task left `started` in a failed run or a skipped step is swept like any other.
--   * requeued_count < 3: back to `queued` (started_at and last_worker_id NULL, requeued_count+1,
--     last_requeued_at now()), its message made visible now (set_vt_batch, one call per queue),
--     then one pg_notify('pgflow_tasks', <flow_slug>) per flow to wake workers.
--   * otherwise: permanently_stalled_at now(), message archived, status stays `started`.
-- Run and step states are not touched. Returns the number of tasks requeued.
-- SECURITY DEFINER so that the cron job's role does not need rights on pgmq tables.
--
-- Locks: the stalled step_tasks rows (FOR UPDATE SKIP LOCKED: a task being completed right now,
-- or claimed by an overlapping run of this function, is left for the next run). No run or
-- step_state locks, so no lock-order conflict with complete_task/fail_task.
-- Raises nothing of its own.
create or replace function pgflow.requeue_stalled_tasks()
returns int
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    v_requeued_count int;
    v_requeued_flows text[];
    v_requeued_msg_ids bigint[];
    v_stalled_flows text[];
    v_stalled_msg_ids bigint[];
    v_queue text;
    v_msg_ids bigint[];
begin
    -- LOCKS + MAIN: claim stalled tasks, then requeue or give up on each, in one statement
    with stalled as (
        select t.run_id, t.step_slug, t.task_index, t.requeued_count
        from pgflow.step_tasks as t
        inner join pgflow.flows as f on f.flow_slug = t.flow_slug
        where
            t.status = 'started'
            and t.permanently_stalled_at is null
            and t.started_at < now() - make_interval(secs => f.opt_timeout + 30)
        order by t.run_id, t.step_slug, t.task_index
        for update of t skip locked
    ),

    requeued as (
        update pgflow.step_tasks as t
        set
            status = 'queued',
            started_at = null,
            last_worker_id = null,
            requeued_count = t.requeued_count + 1,
            last_requeued_at = now()
        from stalled as st
        where
            t.run_id = st.run_id
            and t.step_slug = st.step_slug
            and t.task_index = st.task_index
            and st.requeued_count < 3
        returning t.flow_slug, t.message_id
    ),

    given_up as (
        update pgflow.step_tasks as t
        set permanently_stalled_at = now()
        from stalled as st
        where
            t.run_id = st.run_id
            and t.step_slug = st.step_slug
            and t.task_index = st.task_index
            and st.requeued_count >= 3
        returning t.flow_slug, t.message_id
    )

    select
        (select count(*) from requeued),
        (select array_agg(rq.flow_slug) from requeued as rq where rq.message_id is not null),
        (select array_agg(rq.message_id) from requeued as rq where rq.message_id is not null),
        (select array_agg(gu.flow_slug) from given_up as gu where gu.message_id is not null),
        (select array_agg(gu.message_id) from given_up as gu where gu.message_id is not null)
    into v_requeued_count, v_requeued_flows, v_requeued_msg_ids, v_stalled_flows, v_stalled_msg_ids;

    -- messages: one call per queue, not per task
    for v_queue, v_msg_ids in
        select u.flow_slug, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_requeued_flows, v_requeued_msg_ids) as u (flow_slug, msg_id)
        group by u.flow_slug
        order by u.flow_slug
    loop
        perform pgflow.set_vt_batch(v_queue, v_msg_ids, array_fill(0, array[cardinality(v_msg_ids)]));
        perform pg_notify('pgflow_tasks', v_queue);
    end loop;

    for v_queue, v_msg_ids in
        select u.flow_slug, array_agg(u.msg_id order by u.msg_id)
        from unnest(v_stalled_flows, v_stalled_msg_ids) as u (flow_slug, msg_id)
        group by u.flow_slug
        order by u.flow_slug
    loop
        perform pgmq.archive(v_queue, v_msg_ids);
    end loop;

    return v_requeued_count;
end;
$$;

-- ==== sql/0100_function_set_vt_batch.sql ====
-- pgflow.set_vt_batch(queue_name, msg_ids, vt_offsets): sets the visibility timeout of several
-- messages of one queue in a single UPDATE, pairing msg_ids[i] with vt_offsets[i]:
-- vt = clock_timestamp() + vt_offsets[i] seconds (read_ct unchanged). Returns the updated rows.
-- Called by start_tasks (vt = timeout + 2 s) and requeue_stalled_tasks (vt = now).
-- Locks the updated pgmq.q_<queue> rows. Raises `msg_ids length (<n>) must equal vt_offsets
-- length (<m>)`; an unknown queue raises 42P01 `relation "pgmq.q_<name>" does not exist`.
-- Either array NULL, or msg_ids empty -> empty result.
create or replace function pgflow.set_vt_batch(queue_name text, msg_ids bigint[], vt_offsets integer[])
returns table (
    msg_id bigint,
    read_ct integer,
    enqueued_at timestamptz,
    vt timestamptz,
    message jsonb,
    headers jsonb
)
language plpgsql
volatile
set search_path = ''
as $$
begin
    if set_vt_batch.msg_ids is null or set_vt_batch.vt_offsets is null or cardinality(set_vt_batch.msg_ids) = 0 then
        return;
    end if;

    if cardinality(set_vt_batch.msg_ids) <> coalesce(cardinality(set_vt_batch.vt_offsets), 0) then
        raise exception 'msg_ids length (%) must equal vt_offsets length (%)',
            cardinality(set_vt_batch.msg_ids), coalesce(cardinality(set_vt_batch.vt_offsets), 0);
    end if;

    return query execute format(
        $sql$
        update pgmq.%I as q
        set vt = clock_timestamp() + make_interval(secs => u.vt_offset)
        from unnest($1, $2) as u (msg_id, vt_offset)
        where q.msg_id = u.msg_id
        returning q.msg_id, q.read_ct::integer, q.enqueued_at, q.vt, q.message, q.headers
        $sql$,
        pgmq.format_table_name(set_vt_batch.queue_name, 'q')
    ) using set_vt_batch.msg_ids, set_vt_batch.vt_offsets;
end;
$$;

-- ==== sql/0100_function_start_ready_steps.sql ====
-- pgflow.start_ready_steps(run_id): starts every step of a started run that is ready, i.e.
-- status created, remaining_deps = 0 and initial_tasks > 0 (conditions are not evaluated here).
-- For each such step: status started, started_at, remaining_tasks = initial_tasks; one
-- pgmq.send_batch(flow_slug, msgs, coalesce(opt_start_delay, 0)) with one message per task
-- ({"flow_slug","run_id","step_slug","task_index"}, task_index ascending); step_tasks rows inserted
-- set-based, message ids paired with task indexes by position; step:<slug>:started broadcast.
-- Set-based: one statement whatever the number of steps and tasks (10,000-element maps included).
-- Wakes workers with pg_notify('pgflow_tasks', flow_slug) when messages are visible at once.
-- Called by start_flow, complete_task, fail_task.
-- Locks the ready step_states rows (ordered by step_slug); callers already hold the run row.
-- Raises nothing of its own. A failed or completed run is left alone.
create or replace function pgflow.start_ready_steps(run_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow_slug text;
    v_visible_now int;
    v_inserted int;
begin
    -- GUARD: only started runs schedule work
    select r.flow_slug into v_flow_slug
    from pgflow.runs as r
    where r.run_id = start_ready_steps.run_id and r.status = 'started';

    if v_flow_slug is null then
        return;
    end if;

    -- Nothing ready (the common case after a task that does not finish its step): skip the
    -- statement below, whose plan is large, with one probe of idx_step_states_ready
    if not exists (
        select 1
        from pgflow.step_states as ss
        where
            ss.run_id = start_ready_steps.run_id
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and ss.initial_tasks > 0
    ) then
        return;
    end if;

    -- MAIN: one statement: flip the steps, broadcast, send one batch per step, insert the tasks
    with ready as (
        select ss.run_id, ss.step_slug
        from pgflow.step_states as ss
        where
            ss.run_id = start_ready_steps.run_id
            and ss.status = 'created'
            and ss.remaining_deps = 0
            and ss.initial_tasks is not null
            and ss.initial_tasks > 0
        order by ss.step_slug
        for update
    ),

    started as (
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

    started_steps as (
        select st.*, s.step_index, coalesce(s.opt_start_delay, 0) as start_delay
        from started as st
        inner join pgflow.steps as s on s.flow_slug = st.flow_slug and s.step_slug = st.step_slug
    ),

    events as (
        select
            pgflow._emit_event(
                'step:' || ss.step_slug || ':started',
                jsonb_build_object(
                    'event_type', 'step:started',
                    'run_id', ss.run_id,
                    'step_slug', ss.step_slug,
                    'status', ss.status,
                    'started_at', ss.started_at,
                    'remaining_tasks', ss.remaining_tasks,
                    'remaining_deps', ss.remaining_deps
                )
            ) as emitted
        from started_steps as ss
        order by ss.step_index
    ),

    sent as (
        select
            ss.flow_slug,
            ss.run_id,
            ss.step_slug,
            m.msg_id,
            (row_number() over (partition by ss.step_slug order by m.msg_id) - 1)::int as task_index
        from started_steps as ss
        cross join lateral pgmq.send_batch(
            ss.flow_slug,
            array(
                select
                    jsonb_build_object(
                        'flow_slug', ss.flow_slug,
                        'run_id', ss.run_id,
                        'step_slug', ss.step_slug,
                        'task_index', i.task_index
                    )
                from generate_series(0, ss.initial_tasks - 1) as i (task_index)
                order by i.task_index
            ),
            ss.start_delay::integer
        ) as m (msg_id)
    ),

    inserted as (
        insert into pgflow.step_tasks (flow_slug, run_id, step_slug, task_index, message_id)
        select se.flow_slug, se.run_id, se.step_slug, se.task_index, se.msg_id
        from sent as se
        returning 1
    )

    select (select count(*) from started_steps as ss where ss.start_delay = 0)::int, i.n::int
    into v_visible_now, v_inserted
    from (select count(*) as n from events) as e
    cross join (select count(*) as n from inserted) as i;

    -- Statistics for the workers' plans when a big map lands on a small table
    perform pgflow._refresh_task_statistics(v_inserted);

    -- Worker wake-up: one notification per call, only for messages visible now
    if v_visible_now > 0 then
        perform pg_notify('pgflow_tasks', v_flow_slug);
    end if;
end;
$$;

-- ==== sql/0100_function_start_tasks.sql ====
-- pgflow.start_tasks(flow_slug, msg_ids, worker_id): second phase of polling. For the messages a
-- worker read from the flow's queue, starts the tasks that may run and returns what their handlers
-- need (one pgflow.step_task_record per started task, ordered by msg_id).
-- Eligible: step_tasks of this flow whose message_id is in msg_ids, status queued, run started and
-- step started. Other ids are ignored silently (no archive, no vt change).
-- Started tasks: attempts_count + 1, started_at now(), last_worker_id = worker_id (FK to
-- pgflow.workers: register the worker first). Their messages become invisible for
-- coalesce(step.opt_timeout, flow.opt_timeout) + 2 seconds (pgflow's intent; its own CTE for this
-- never ran, spec §13 quirk 1) via set_vt_batch, so a slow handler is not re-read mid-flight.
-- Inputs (§6.3): root single -> {} and flow_input = run input; dependent single ->
-- {dep: step_states.output} over completed deps; map -> the bare element at task_index of the run
-- input (root) or of the dependency's output; flow_input NULL except for root single steps.
-- The work is pgflow._start_tasks' (shared with pgflow.read_and_start_tasks).
-- Called by workers after pgmq.read_with_poll.
-- Locks the eligible step_tasks rows (ordered by run, step, task index) and their queue messages.
-- Raises nothing of its own (unknown worker_id violates step_tasks_last_worker_id_fkey).
create or replace function pgflow.start_tasks(flow_slug text, msg_ids bigint [], worker_id uuid)
returns setof pgflow.step_task_record
language plpgsql
volatile
set search_path = ''
as $$
begin
    return query
    select t.flow_slug, t.run_id, t.step_slug, t.input, t.msg_id, t.task_index, t.flow_input
    from pgflow._start_tasks(start_tasks.flow_slug, start_tasks.msg_ids, start_tasks.worker_id, true) as t;
end;
$$;

-- ==== sql/0990_drop_read_with_poll.sql ====
-- pgflow 0.8 dropped its own pgflow.read_with_poll (workers call pgmq.read_with_poll); the
-- contract has no such function. pgflow-py 0.1.0 shipped a wrapper by that name: it is removed.
do $$
begin
    drop function if exists pgflow.read_with_poll(text, integer, integer, integer, integer, jsonb);
end;
$$;
