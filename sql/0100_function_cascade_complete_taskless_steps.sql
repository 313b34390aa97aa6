-- pgflow.cascade_complete_taskless_steps(run_id): completes, in waves, the steps that have nothing
-- to do: status created, remaining_deps = 0 and initial_tasks = 0 (empty root array, empty parent
-- output, map fed by a skipped dependency). Returns the number of steps completed.
-- One statement per wave: the steps become completed (started_at = completed_at = now(),
-- remaining_tasks 0, output [] for maps / NULL for singles) with a step:<slug>:completed broadcast
-- each (step_index order), their dependents lose one remaining dep per completed parent (map
-- dependents get initial_tasks 0), and run.remaining_steps drops by the wave size. Does not
-- complete the run (callers call maybe_complete_run).
-- Called by start_flow, complete_task, fail_task.
-- Locks the run row, then the wave's step_states rows (step_index order), then their dependents.
-- Raises `Cascade loop exceeded safety limit of 50 iterations` on the 51st pass (the final pass
-- that finds nothing counts), so a chain of 49 empty steps completes and a chain of 50 raises.
create or replace function pgflow.cascade_complete_taskless_steps(run_id uuid)
returns int
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_iterations int := 0;
    v_wave int;
    v_total int := 0;
begin
    -- LOCKS: run first, as everywhere else
    perform 1 from pgflow.runs as r where r.run_id = cascade_complete_taskless_steps.run_id for update;

    loop
        v_iterations := v_iterations + 1;
        if v_iterations > 50 then
            raise exception 'Cascade loop exceeded safety limit of 50 iterations';
        end if;

        with wave as (
            select ss.run_id, ss.step_slug
            from pgflow.step_states as ss
            inner join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
            where
                ss.run_id = cascade_complete_taskless_steps.run_id
                and ss.status = 'created'
                and ss.remaining_deps = 0
                and ss.initial_tasks = 0
            order by s.step_index
            for update of ss
        ),

        completed as (
            update pgflow.step_states as ss
            set
                status = 'completed',
                started_at = now(),
                completed_at = now(),
                remaining_tasks = 0,
                output = case when s.step_type = 'map' then '[]'::jsonb end
            from wave as w, pgflow.steps as s
            where
                ss.run_id = w.run_id
                and ss.step_slug = w.step_slug
                and s.flow_slug = ss.flow_slug
                and s.step_slug = ss.step_slug
            returning
                ss.flow_slug, ss.run_id, ss.step_slug, ss.status, ss.started_at, ss.completed_at,
                ss.remaining_tasks, ss.remaining_deps, ss.output, s.step_index
        ),

        events as (
            select
                pgflow._emit_event(
                    'step:' || c.step_slug || ':completed',
                    jsonb_build_object(
                        'event_type', 'step:completed',
                        'run_id', c.run_id,
                        'step_slug', c.step_slug,
                        'status', c.status,
                        'started_at', c.started_at,
                        'completed_at', c.completed_at,
                        'remaining_tasks', 0,
                        'remaining_deps', 0,
                        'output', c.output
                    )
                ) as emitted
            from completed as c
            order by c.step_index
        ),

        unblocked as (
            update pgflow.step_states as cs
            set
                remaining_deps = cs.remaining_deps - p.parents_completed,
                initial_tasks = case when cs_step.step_type = 'map' then 0 else cs.initial_tasks end
            from
                (
                    select d.flow_slug, d.step_slug, count(*)::int as parents_completed
                    from pgflow.deps as d
                    inner join completed as c on c.flow_slug = d.flow_slug and c.step_slug = d.dep_slug
                    group by d.flow_slug, d.step_slug
                ) as p,
                pgflow.steps as cs_step
            where
                cs.run_id = cascade_complete_taskless_steps.run_id
                and cs.step_slug = p.step_slug
                and cs_step.flow_slug = p.flow_slug
                and cs_step.step_slug = p.step_slug
            returning 1
        ),

        run_update as (
            update pgflow.runs as r
            set remaining_steps = r.remaining_steps - (select count(*) from completed)
            where
                r.run_id = cascade_complete_taskless_steps.run_id
                and exists (select 1 from completed)
            returning 1
        )

        select count(*)::int into v_wave
        from completed
        cross join (select count(*) as n from events) as e
        cross join (select count(*) as n from unblocked) as u
        cross join (select count(*) as n from run_update) as ru;

        exit when v_wave = 0;
        v_total := v_total + v_wave;
    end loop;

    return v_total;
end;
$$;
