-- pgflow.get_run_with_states(run_id): a run and all its step states as one JSON document,
-- {"run": <runs row>, "steps": [<step_states rows>, ...]} ("steps" is [] when there are none;
-- ordered by the steps' step_index). NULL for an unknown run.
-- Called by start_flow_with_states and by clients (PostgREST RPC, NOTIFY listeners that got a
-- truncated event). SECURITY DEFINER so that RPC roles need no table privileges.
-- Locks nothing. Raises nothing.
create or replace function pgflow.get_run_with_states(run_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select jsonb_build_object(
        'run', to_jsonb(r),
        'steps', coalesce(
            (
                select jsonb_agg(to_jsonb(ss) order by s.step_index, ss.step_slug)
                from pgflow.step_states as ss
                left join pgflow.steps as s on s.flow_slug = ss.flow_slug and s.step_slug = ss.step_slug
                where ss.run_id = r.run_id
            ),
            '[]'::jsonb
        )
    )
    from pgflow.runs as r
    where r.run_id = get_run_with_states.run_id;
$$;
