-- setup_recovery_cron: the pgflow_recover_tasks job beside pgflow's own jobs. At install it fails
-- permanently stalled tasks only; with a heartbeat_timeout it requeues dead workers' tasks first.
begin;
select plan(9);

select is(
    (select row(j.schedule, j.command) from cron.job as j where j.jobname = 'pgflow_recover_tasks'),
    row('5 seconds'::text, 'select pgflow.fail_stalled_tasks()'::text),
    'the install scheduled fail_stalled_tasks every 5 seconds, without dead-worker recovery'
);
select is(
    (select row(j.schedule, j.command) from cron.job as j where j.jobname = 'pgflow_requeue_stalled_tasks'),
    row('15 seconds'::text, 'select pgflow.requeue_stalled_tasks()'::text),
    'pgflow''s stall requeue job is as the contract has it'
);

create temp table src_text as select pgflow.setup_recovery_cron('2 seconds', heartbeat_timeout => '15 seconds') as t;
select is(
    (select x.t from src_text as x),
    format(
        'Scheduled pgflow_recover_tasks (every 2 seconds, job_id=%s): '
        'select pgflow.requeue_dead_worker_tasks(heartbeat_timeout => ''00:00:15''::interval, function_name => NULL::text); '
        'select pgflow.fail_stalled_tasks()',
        (select j.jobid from cron.job as j where j.jobname = 'pgflow_recover_tasks')
    ),
    'with a heartbeat_timeout: returns the schedule, the job id and what it runs'
);
select is(
    (select row(j.schedule, j.command) from cron.job as j where j.jobname = 'pgflow_recover_tasks'),
    row('2 seconds'::text,
        'select pgflow.requeue_dead_worker_tasks(heartbeat_timeout => ''00:00:15''::interval, function_name => NULL::text); '
        'select pgflow.fail_stalled_tasks()'::text),
    'the job requeues dead workers'' tasks, then fails the permanently stalled ones'
);
select lives_ok(
    (select j.command from cron.job as j where j.jobname = 'pgflow_recover_tasks'),
    'the job''s command runs'
);
select pgflow.setup_recovery_cron('5 seconds', '20 seconds', 'py''s');
select is(
    (select j.command from cron.job as j where j.jobname = 'pgflow_recover_tasks'),
    'select pgflow.requeue_dead_worker_tasks(heartbeat_timeout => ''00:00:20''::interval, function_name => ''py''''s''::text); '
    'select pgflow.fail_stalled_tasks()',
    'with a function_name: only workers of that name, the name quoted as a literal'
);
select lives_ok($$ select pgflow.setup_recovery_cron() $$, 'calling it again works');
select is(
    (select count(*)::int from cron.job as j where j.jobname = 'pgflow_recover_tasks'), 1,
    'exactly one pgflow_recover_tasks job after repeated setup'
);
select throws_ok(
    $$ select pgflow.setup_recovery_cron(heartbeat_timeout => '-1 second') $$,
    'P0001', 'heartbeat_timeout must be a positive interval, got -00:00:01', 'a negative threshold is refused'
);

select * from finish();
rollback;
