-- pgflow.retry_run(run_id): starts a new run of a failed or cancelled run's flow with the same
-- input (pgflow.start_flow, so its events and scheduling are a new run's) and stores the link:
-- the new run's retry_of_run_id is the old run (pgflow.get_run_with_states shows it, and the old
-- run's "retried_by_run_id"). Beside the contract (run control). Returns the new run.
-- A run retried already returns its retry and starts nothing (a client that repeats the call
-- does not start two runs); to try again after the retry failed, retry the retry.
-- Example: select run_id from pgflow.retry_run('<run_id>');
-- Called by clients (pgflow retry <run_id>).
-- LOCKS: the old run row (FOR UPDATE: two concurrent retries start one run), then as start_flow.
-- Raises `Run <run_id> not found` (P0002); `Run <run_id> is <status>: only a failed or cancelled
-- run can be retried` (55000); what start_flow raises.
create or replace function pgflow.retry_run(run_id uuid)
returns pgflow.runs
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_old pgflow.runs;
    v_new pgflow.runs;
begin
    -- GUARD + LOCKS: the old run
    select * into v_old
    from pgflow.runs as r
    where r.run_id = retry_run.run_id
    for update;

    if not found then
        raise exception 'Run % not found', retry_run.run_id using errcode = 'P0002';
    end if;
    if v_old.status not in ('failed', 'cancelled') then
        raise exception 'Run % is %: only a failed or cancelled run can be retried', retry_run.run_id, v_old.status
            using errcode = '55000';
    end if;

    select * into v_new
    from pgflow.runs as r
    where r.retry_of_run_id = retry_run.run_id
    order by r.started_at, r.run_id
    limit 1;
    if found then
        return v_new;
    end if;

    -- MAIN: a new run, then the link
    select * into v_new from pgflow.start_flow(v_old.flow_slug, v_old.input) as s;

    update pgflow.runs as r
    set retry_of_run_id = retry_run.run_id
    where r.run_id = v_new.run_id
    returning r.* into v_new;

    return v_new;
end;
$$;
