-- pgflow.maybe_complete_run(run_id): completes a started run whose remaining_steps reached 0.
-- Output = {leaf_slug: step_states.output} over COMPLETED leaf steps (steps nobody depends on);
-- skipped leaves are omitted; NULL when there is no completed leaf. Broadcasts run:completed.
-- Called by start_flow, complete_task, fail_task (after skips).
-- Guard: status = 'started' (pgflow checks "not completed"; a failed run never reaches 0
-- remaining steps because failure does not decrement, so this is equivalent and safer).
-- Locks the run row (compare-and-set update). Raises nothing.
create or replace function pgflow.maybe_complete_run(run_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_run pgflow.runs;
begin
    update pgflow.runs as r
    set
        status = 'completed',
        completed_at = now(),
        output = (
            select jsonb_object_agg(ss.step_slug, ss.output)
            from pgflow.step_states as ss
            where
                ss.run_id = r.run_id
                and ss.status = 'completed'
                and not exists (
                    select 1
                    from pgflow.deps as d
                    where d.flow_slug = ss.flow_slug and d.dep_slug = ss.step_slug
                )
        )
    where
        r.run_id = maybe_complete_run.run_id
        and r.remaining_steps = 0
        and r.status = 'started'
    returning r.* into v_run;

    if v_run.run_id is not null then
        perform pgflow._emit_event(
            'run:completed',
            jsonb_build_object(
                'event_type', 'run:completed',
                'run_id', v_run.run_id,
                'flow_slug', v_run.flow_slug,
                'status', v_run.status,
                'output', v_run.output,
                'completed_at', v_run.completed_at
            )
        );
    end if;
end;
$$;
