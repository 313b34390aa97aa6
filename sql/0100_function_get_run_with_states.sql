-- pgflow.get_run_with_states(run_id): a run and all its step states as one JSON document,
-- {"run": <runs row>, "steps": [<step_states rows>, ...]} ("steps" is [] when there are none;
-- ordered by the steps' step_index). NULL for an unknown run.
-- Beside the contract (run control): "run" also carries, only when they are set (so that a run
-- that never used run control gets exactly the contract's document), cancelled_at, retry_of_run_id
-- (the run this one retries) and retried_by_run_id (the run that retries this one,
-- pgflow.retry_run).
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
        'run', (to_jsonb(r) - 'cancelled_at' - 'retry_of_run_id') || jsonb_strip_nulls(
            jsonb_build_object(
                'cancelled_at', r.cancelled_at,
                'retry_of_run_id', r.retry_of_run_id,
                'retried_by_run_id', (
                    select rr.run_id
                    from pgflow.runs as rr
                    where rr.retry_of_run_id = r.run_id
                    order by rr.started_at, rr.run_id
                    limit 1
                )
            )
        ),
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
