-- The run control functions' signatures are API (issue 16 names them; callers use named
-- arguments): exact parameter names, types, defaults and results, one function per name.
begin;
select plan(21);

create temp table expected (fn text, args text, result text) on commit drop;
insert into expected values
    ('cancel_run', 'run_id uuid', 'pgflow.runs'),
    ('retry_run', 'run_id uuid', 'pgflow.runs'),
    ('resume_run', 'run_id uuid', 'pgflow.runs'),
    ('start_flow_idempotent', 'flow_slug text, input jsonb, idempotency_key text', 'SETOF pgflow.runs'),
    ('prune_runs', 'older_than interval, max_runs integer DEFAULT 1000', 'integer'),
    ('read_with_poll',
     'queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5, '
     'poll_interval_ms integer DEFAULT 100, conditional jsonb DEFAULT ''{}''::jsonb',
     'SETOF pgmq.message_record'),
    ('fail_task_with_delay',
     'run_id uuid, step_slug text, task_index integer, error_message text, retry_delay_seconds integer',
     'SETOF pgflow.step_tasks'),
    ('extend_task_timeout', 'run_id uuid, step_slug text, task_index integer, seconds integer',
     'timestamp with time zone'),
    ('set_retry_policy',
     'flow_slug text, step_slug text DEFAULT NULL::text, retry_jitter numeric DEFAULT NULL::numeric, '
     'max_retry_delay integer DEFAULT NULL::integer',
     'void');

select is(pgflow_tests.conf_fn_arguments(e.fn), e.args, e.fn || ' arguments: ' || e.args)
from expected as e order by e.fn;
select is(pgflow_tests.conf_fn_result(e.fn), e.result, e.fn || ' returns ' || e.result)
from expected as e order by e.fn;
select hasnt_function('pgflow', 'prune_data_older_than', 'prune_data_older_than stays reserved for users'' installs');
select hasnt_function('pgflow', 'prune_runs', array['interval'], 'prune_runs has no overload (max_runs is a default)');
select is(
    (select count(*)::int from pg_proc as p
     where p.pronamespace = 'pgflow'::regnamespace and p.proname in (select e.fn from expected as e)
        and p.prosecdef),
    0,
    'none of them is SECURITY DEFINER'
);
select * from finish();
rollback;
