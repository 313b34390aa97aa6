begin;
select plan(7);

select is(
    (select row(j.schedule, j.command) from cron.job as j where j.jobname = 'pgflow_requeue_stalled_tasks'),
    row('15 seconds'::text, 'select pgflow.requeue_stalled_tasks()'::text),
    'the install scheduled the stall requeue every 15 seconds'
);

create temp table srst_text as select pgflow.setup_requeue_stalled_tasks_cron('30 seconds') as t;
select is(
    (select x.t from srst_text as x),
    format(
        'Scheduled pgflow_requeue_stalled_tasks (every 30 seconds, job_id=%s)',
        (select j.jobid from cron.job as j where j.jobname = 'pgflow_requeue_stalled_tasks')
    ),
    'returns the schedule and the job id'
);
select is(
    (select j.schedule from cron.job as j where j.jobname = 'pgflow_requeue_stalled_tasks'),
    '30 seconds',
    'the job now runs at the new interval'
);
select lives_ok($$ select pgflow.setup_requeue_stalled_tasks_cron() $$, 'calling it again works');
select is(
    (select count(*)::int from cron.job as j where j.jobname = 'pgflow_requeue_stalled_tasks'), 1,
    'exactly one pgflow_requeue_stalled_tasks job after repeated setup'
);

delete from cron.job where jobname = 'pgflow_requeue_stalled_tasks';
select matches(
    pgflow.setup_requeue_stalled_tasks_cron(),
    '^Scheduled pgflow_requeue_stalled_tasks \(every 15 seconds, job_id=\d+\)$',
    'works when the job does not exist yet; default interval 15 seconds'
);
select is(
    (select array_agg(p.prosecdef order by p.proname) from pg_proc as p
     where p.pronamespace = 'pgflow'::regnamespace
         and p.proname in ('setup_requeue_stalled_tasks_cron', 'setup_ensure_workers_cron', 'requeue_stalled_tasks')),
    array[true, true, true],
    'the cron setup functions and requeue_stalled_tasks run as security definer'
);

select * from finish();
rollback;
