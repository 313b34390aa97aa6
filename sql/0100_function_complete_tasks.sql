-- pgflow.complete_tasks(run_ids, step_slugs, task_indexes, outputs): a worker reports several task
-- results in one call (one round trip, one transaction). Not part of pgflow's API: pgflow-py's
-- worker uses it; pgflow.complete_task stays the contract and is what this function applies.
-- Item i is (run_ids[i], step_slugs[i], task_indexes[i], outputs[i]). The effect is that of
-- calling pgflow.complete_task for every item, ordered by (run_id, step_slug, task_index), in one
-- transaction; returns the final step_tasks row of every known item (unknown items: no row).
-- Fast path, set-based: the items of one started map step of a started run that do not finish
-- the step (fewer started tasks among them than remaining_tasks) are completed with one UPDATE,
-- the step's remaining_tasks drops by their number and their messages are archived with one
-- pgmq.archive(queue, msg_ids[]) per flow. complete_task would do exactly this for each of them
-- (no step completes, so there is nothing to cascade, start or finish). Every other item (single
-- steps, the tasks that finish a map, late or duplicate callbacks) goes through complete_task.
-- Called by the pgflow-py worker.
-- LOCKS: the items' runs in run_id order (two batches never wait on each other in a cycle), then
-- the fast-path step_states rows in (run_id, step_slug) order, then their tasks; complete_task
-- takes its own locks after that, in its usual order.
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
declare
    v_n int := coalesce(cardinality(complete_tasks.run_ids), 0);
    v_fast_runs uuid [];
    v_fast_steps text [];
    v_queues text [];
    v_msg_ids bigint [];
    v_item record;
begin
    -- GUARD: positional arrays of one length
    if v_n <> coalesce(cardinality(complete_tasks.step_slugs), 0)
        or v_n <> coalesce(cardinality(complete_tasks.task_indexes), 0)
        or v_n <> coalesce(cardinality(complete_tasks.outputs), 0) then
        raise exception 'run_ids, step_slugs, task_indexes and outputs must have the same length (%, %, %, %)',
            v_n, coalesce(cardinality(complete_tasks.step_slugs), 0),
            coalesce(cardinality(complete_tasks.task_indexes), 0), coalesce(cardinality(complete_tasks.outputs), 0);
    end if;
    if v_n = 0 then
        return;
    end if;

    -- LOCKS: every run of the batch, in run_id order
    perform 1
    from pgflow.runs as r
    where r.run_id = any(complete_tasks.run_ids)
    order by r.run_id
    for update;

    -- Fast-path steps: started map steps of started runs that the batch's started tasks do not finish
    select coalesce(array_agg(g.run_id), '{}'), coalesce(array_agg(g.step_slug), '{}')
    into v_fast_runs, v_fast_steps
    from (
        select ss.run_id, ss.step_slug
        from pgflow.step_states as ss
        inner join pgflow.runs as r on r.run_id = ss.run_id
        inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
        where
            (ss.run_id, ss.step_slug) in (
                select u.run_id, u.step_slug
                from unnest(complete_tasks.run_ids, complete_tasks.step_slugs) as u (run_id, step_slug)
            )
            and r.status = 'started'
            and ss.status = 'started'
            and s.step_type = 'map'
            and ss.remaining_tasks > (
                select count(distinct t.task_index)
                from pgflow.step_tasks as t
                inner join unnest(complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes)
                    as u (run_id, step_slug, task_index)
                    on u.run_id = t.run_id and u.step_slug = t.step_slug and u.task_index = t.task_index
                where t.run_id = ss.run_id and t.step_slug = ss.step_slug and t.status = 'started'
            )
        order by ss.run_id, ss.step_slug
        for update of ss
    ) as g;

    -- MAIN, fast path: one statement completes their tasks and counts the steps down
    if cardinality(v_fast_runs) > 0 then
        with items as (
            select distinct on (u.run_id, u.step_slug, u.task_index) u.run_id, u.step_slug, u.task_index, u.output
            from unnest(
                complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes, complete_tasks.outputs
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

    -- MAIN, general path: every other item through complete_task, in key order
    for v_item in
        select u.run_id, u.step_slug, u.task_index, u.output
        from unnest(
            complete_tasks.run_ids, complete_tasks.step_slugs, complete_tasks.task_indexes, complete_tasks.outputs
        ) with ordinality as u (run_id, step_slug, task_index, output, ord)
        where (u.run_id, u.step_slug) not in (
            select f.run_id, f.step_slug from unnest(v_fast_runs, v_fast_steps) as f (run_id, step_slug)
        )
        order by u.run_id, u.step_slug, u.task_index, u.ord
    loop
        perform 1 from pgflow.complete_task(v_item.run_id, v_item.step_slug, v_item.task_index, v_item.output);
    end loop;

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
