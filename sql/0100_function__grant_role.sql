-- pgflow._grant_role(role, kind): grants an existing role what one kind of pgflow client needs, and
-- returns the statements it ran, in order. The three kinds (called through pgflow.grant_worker,
-- grant_starter, grant_viewer):
--   * worker:  read and start its tasks, complete and fail them (one by one and batched), extend a
--              task's timeout, register itself and heartbeat (pgflow.workers, worker_functions),
--              the maintenance it runs (requeue_stalled_tasks, requeue_dead_worker_tasks), verify
--              a compiled flow; pgmq read/send/archive/delete/set_vt on every flow's queue.
--              Not: define flows, start runs, delete anything of pgflow, cancel or retry runs.
--   * starter: start runs (start_flow, start_flow_idempotent, start_flow_with_states) and read them
--              (pgflow tables of definitions and runs, get_run_with_states); pgmq send.
--              Not: complete or fail tasks, define flows, cancel, delete.
--   * viewer:  select on every pgflow table, get_run_with_states; pgmq queue depth (select on each
--              flow's queue and archive tables). Writes nothing.
-- pgflow's functions run with their caller's rights (but for a few SECURITY DEFINER ones), so the
-- grants are on the tables those functions write, narrowed to columns where that keeps a role out
-- of another kind's function (e.g. a worker cannot set runs.cancelled_at, so cancel_run fails for
-- it). The SECURITY DEFINER functions that write (start_flow_with_states, requeue_stalled_tasks,
-- the cron setup and cleanup functions) are executable by PUBLIC by default; this function revokes
-- that from PUBLIC (the owner and superusers keep it) and grants them back by kind.
-- Queues: the grants cover the flows defined when it runs; after defining a flow, call it again
-- (every statement is idempotent). Realtime: where realtime.send exists (Supabase), a worker and a
-- starter get usage on schema realtime, execute on realtime.send and insert on realtime.messages
-- (Realtime's own row policies still apply); where the caller may not grant these, a warning says
-- so and the rest is granted.
-- Called by pgflow.grant_worker / grant_starter / grant_viewer, as a role that may grant on the
-- pgflow and pgmq objects (their owner or a superuser). Locks nothing of pgflow's rows.
-- Raises: an unknown kind (22023); a role that does not exist (42704); what GRANT raises for a
-- caller without the right to grant (42501).
create or replace function pgflow._grant_role(role name, kind text)
returns setof text
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_role text;
    v_statements text[] := array[]::text[];
    v_statement text;
    v_functions text[];
    v_signatures text;
begin
    -- GUARD
    if _grant_role.kind is null or _grant_role.kind not in ('worker', 'starter', 'viewer') then
        raise exception 'kind must be worker, starter or viewer (got %)', coalesce(_grant_role.kind, 'NULL')
            using errcode = '22023';
    end if;
    if _grant_role.role is null or not exists (
        select 1 from pg_catalog.pg_roles as r where r.rolname = _grant_role.role
    ) then
        raise exception 'role % does not exist: create it first (create role ... login password ...)',
            coalesce(quote_ident(_grant_role.role), 'NULL')
            using errcode = '42704';
    end if;
    v_role := quote_ident(_grant_role.role);

    -- PUBLIC may not run the writing SECURITY DEFINER functions (get_run_with_states only reads)
    select coalesce(array_agg(format('revoke execute on function %s from public', p.oid::regprocedure)
        order by p.oid::regprocedure::text), array[]::text[])
    into v_statements
    from pg_catalog.pg_proc as p
    where
        p.pronamespace = 'pgflow'::regnamespace
        and p.prosecdef
        and p.proname <> 'get_run_with_states'
        and has_function_privilege('public', p.oid, 'execute');

    v_statements := v_statements || format('grant usage on schema pgflow to %s', v_role);

    -- MAIN: pgflow's tables and functions, by kind
    if _grant_role.kind = 'viewer' then
        v_statements := v_statements || array[
            format('grant select on all tables in schema pgflow to %s', v_role)
        ];
        v_functions := array['get_run_with_states', 'schema_version', 'cron_next', 'is_valid_slug'];
    elsif _grant_role.kind = 'starter' then
        v_statements := v_statements || array[
            format('grant select on table pgflow.flows, pgflow.steps, pgflow.deps, pgflow.runs, pgflow.step_states, '
                'pgflow.step_tasks, pgflow.run_idempotency_keys to %s', v_role),
            format('grant insert on table pgflow.runs, pgflow.step_states, pgflow.step_tasks, '
                'pgflow.run_idempotency_keys to %s', v_role),
            -- a run whose root steps finish at once (empty maps, unmet conditions) completes in start_flow
            format('grant update (status, output, remaining_steps, completed_at, failed_at) on table pgflow.runs '
                'to %s', v_role),
            format('grant update (status, remaining_tasks, remaining_deps, initial_tasks, output, error_message, '
                'skip_reason, started_at, completed_at, failed_at, skipped_at) on table pgflow.step_states to %s',
                v_role)
        ];
        v_functions := array[
            'start_flow', 'start_flow_idempotent', 'start_flow_with_states', 'get_run_with_states',
            'schema_version', 'is_valid_slug'
        ];
    else
        v_statements := v_statements || array[
            format('grant select on table pgflow.flows, pgflow.steps, pgflow.deps, pgflow.runs, pgflow.step_states, '
                'pgflow.step_tasks, pgflow.workers, pgflow.worker_functions, pgflow.task_deadlines to %s', v_role),
            format('grant insert, update on table pgflow.workers, pgflow.worker_functions, pgflow.task_deadlines '
                'to %s', v_role),
            format('grant insert, update on table pgflow.step_tasks to %s', v_role),
            format('grant update (status, output, remaining_steps, completed_at, failed_at) on table pgflow.runs '
                'to %s', v_role),
            format('grant update (status, remaining_tasks, remaining_deps, initial_tasks, output, error_message, '
                'skip_reason, started_at, completed_at, failed_at, skipped_at) on table pgflow.step_states to %s',
                v_role)
        ];
        v_functions := array[
            'read_and_start_tasks', 'start_tasks', 'read_with_poll', 'poll_for_tasks', 'set_vt_batch',
            'complete_task', 'complete_tasks', 'complete_tasks_count', 'complete_tasks_and_claim',
            'fail_task', 'fail_task_with_delay', 'extend_task_timeout', 'mark_worker_stopped',
            'track_worker_function', 'requeue_stalled_tasks', 'requeue_dead_worker_tasks',
            'ensure_flow_compiled', 'get_run_with_states', 'schema_version', 'is_valid_slug'
        ];
    end if;

    select string_agg(p.oid::regprocedure::text, ', ' order by p.oid::regprocedure::text)
    into v_signatures
    from pg_catalog.pg_proc as p
    where p.pronamespace = 'pgflow'::regnamespace and p.proname = any(v_functions);
    v_statements := v_statements || format('grant execute on function %s to %s', v_signatures, v_role);

    -- MAIN: each flow's pgmq queue (q_<flow>), archive (a_<flow>) and message-id sequence
    v_statements := v_statements || format('grant usage on schema pgmq to %s', v_role);
    select v_statements || coalesce(array_agg(g.statement order by g.flow_slug, g.n), array[]::text[])
    into v_statements
    from (
        select f.flow_slug, x.n, format(x.template, 'pgmq.' || quote_ident(x.relname), v_role) as statement
        from pgflow.flows as f
        cross join lateral (
            values
            (1, 'q_' || lower(f.flow_slug), case _grant_role.kind
                when 'worker' then 'grant select, insert, update, delete on table %s to %s'
                when 'starter' then 'grant select, insert on table %s to %s'
                else 'grant select on table %s to %s'
            end),
            (2, 'a_' || lower(f.flow_slug), case _grant_role.kind
                when 'worker' then 'grant select, insert on table %s to %s'
                when 'viewer' then 'grant select on table %s to %s'
            end),
            (3, 'q_' || lower(f.flow_slug) || '_msg_id_seq', case _grant_role.kind
                when 'viewer' then 'grant select on sequence %s to %s'
                else 'grant usage, select on sequence %s to %s'
            end)
        ) as x (n, relname, template)
        where x.template is not null and to_regclass('pgmq.' || quote_ident(x.relname)) is not null
    ) as g;

    foreach v_statement in array v_statements loop
        execute v_statement;
        return next v_statement;
    end loop;

    -- Supabase Realtime: the events of the runs a worker or starter moves
    if _grant_role.kind <> 'viewer' and to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
        foreach v_statement in array array[
            format('grant usage on schema realtime to %s', v_role),
            format('grant execute on function realtime.send(jsonb, text, text, boolean) to %s', v_role),
            format('grant insert on table realtime.messages to %s', v_role)
        ] loop
            begin
                execute v_statement;
                return next v_statement;
            exception when insufficient_privilege then
                raise warning 'pgflow: could not run "%" (%): grant it as realtime''s owner for Realtime events',
                    v_statement, sqlerrm;
            end;
        end loop;
    end if;
end;
$$;
