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
