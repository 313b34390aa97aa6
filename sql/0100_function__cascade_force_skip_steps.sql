-- pgflow._cascade_force_skip_steps(run_id, step_slug, skip_reason): skips a step and every step
-- that transitively depends on it, in one statement. The named step gets `skip_reason`, its
-- descendants get 'dependency_skipped'. Only steps still 'created' or 'started' change (terminal
-- ones are left as they are), so a second call skips nothing and emits nothing (idempotent).
-- For each newly skipped step: status 'skipped', skipped_at now(), remaining_tasks NULL, one
-- `step:<slug>:skipped` event (topological order = step_index order), and the messages of its
-- queued/started tasks are archived (the tasks keep their status). run.remaining_steps drops by
-- the number newly skipped. remaining_deps of other steps and the run status are not touched:
-- every step that could wait on a skipped step is itself skipped.
-- Called by cascade_resolve_conditions (when_unmet 'skip-cascade') and fail_task
-- (when_exhausted 'skip-cascade').
-- LOCKS: the run row (FOR UPDATE), then the skipped step_states rows (UPDATE).
-- Raises: `Run not found: <run_id>`.
create or replace function pgflow._cascade_force_skip_steps(run_id uuid, step_slug text, skip_reason text)
returns int
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_flow_slug text;
    v_skipped jsonb;
    v_count int;
    v_msg_ids bigint[];
begin
    -- GUARD + LOCKS: the run first, like every other transition
    select r.flow_slug into v_flow_slug
    from pgflow.runs as r
    where r.run_id = _cascade_force_skip_steps.run_id
    for update;

    if v_flow_slug is null then
        raise exception 'Run not found: %', _cascade_force_skip_steps.run_id;
    end if;

    -- MAIN: one wave skips the step and all its descendants
    with recursive subtree (step_slug) as (
        select _cascade_force_skip_steps.step_slug
        union
        select d.step_slug
        from pgflow.deps as d
        inner join subtree as t on t.step_slug = d.dep_slug
        where d.flow_slug = v_flow_slug
    ),

    skipped as (
        update pgflow.step_states as ss
        set status = 'skipped',
            skip_reason = case
                when ss.step_slug = _cascade_force_skip_steps.step_slug then _cascade_force_skip_steps.skip_reason
                else 'dependency_skipped'
            end,
            skipped_at = now(),
            remaining_tasks = null
        from subtree as t
        where
            ss.run_id = _cascade_force_skip_steps.run_id
            and ss.step_slug = t.step_slug
            and ss.status in ('created', 'started')
        returning ss.step_slug, ss.skip_reason, ss.skipped_at
    )

    select
        coalesce(
            jsonb_agg(
                jsonb_build_object(
                    'event_type', 'step:skipped',
                    'run_id', _cascade_force_skip_steps.run_id,
                    'flow_slug', v_flow_slug,
                    'step_slug', sk.step_slug,
                    'status', 'skipped',
                    'skip_reason', sk.skip_reason,
                    'skipped_at', sk.skipped_at
                )
                order by s.step_index
            ),
            '[]'::jsonb
        ),
        count(*)::int
    into v_skipped, v_count
    from skipped as sk
    inner join pgflow.steps as s on s.flow_slug = v_flow_slug and s.step_slug = sk.step_slug;

    if v_count = 0 then
        return 0;
    end if;

    -- Events, parents before children
    perform pgflow._emit_event('step:' || (e.payload ->> 'step_slug') || ':skipped', e.payload)
    from jsonb_array_elements(v_skipped) with ordinality as e (payload, ord)
    order by e.ord;

    -- Messages of the skipped steps' pending tasks, in one call
    select array_agg(st.message_id order by st.message_id) into v_msg_ids
    from pgflow.step_tasks as st
    where
        st.run_id = _cascade_force_skip_steps.run_id
        and st.step_slug in (select e.payload ->> 'step_slug' from jsonb_array_elements(v_skipped) as e (payload))
        and st.status in ('queued', 'started')
        and st.message_id is not null;

    if v_msg_ids is not null then
        perform pgmq.archive(v_flow_slug, v_msg_ids);
    end if;

    update pgflow.runs as r
    set remaining_steps = r.remaining_steps - v_count
    where r.run_id = _cascade_force_skip_steps.run_id;

    return v_count;
end;
$$;
