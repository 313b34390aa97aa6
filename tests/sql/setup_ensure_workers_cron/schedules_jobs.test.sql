begin;
select plan(9);

select is(
    (select array_agg(j.jobname::text order by j.jobname) from cron.job as j
     where j.jobname in ('pgflow_ensure_workers', 'pgflow_cleanup_logs')),
    array['pgflow_cleanup_logs', 'pgflow_ensure_workers'],
    'the install scheduled both jobs (pg_cron present at install)'
);
select is(
    (select j.schedule from cron.job as j where j.jobname = 'pgflow_ensure_workers'),
    '1 second',
    'installed ensure_workers job runs every second'
);

select matches(
    pgflow.setup_ensure_workers_cron('5 seconds'),
    '^Scheduled pgflow_ensure_workers \(every 5 seconds, job_id=\d+\) and pgflow_cleanup_logs \(hourly, job_id=\d+\)$',
    'returns which jobs were scheduled'
);
create temp table sewc_text as select pgflow.setup_ensure_workers_cron(cron_interval => '2 seconds') as t;
select is(
    (select x.t from sewc_text as x),
    format(
        'Scheduled pgflow_ensure_workers (every 2 seconds, job_id=%s) and pgflow_cleanup_logs (hourly, job_id=%s)',
        (select j.jobid from cron.job as j where j.jobname = 'pgflow_ensure_workers'),
        (select j.jobid from cron.job as j where j.jobname = 'pgflow_cleanup_logs')
    ),
    'the job ids in the text are the scheduled jobs'
);
select is(
    (select count(*)::int from cron.job as j where j.jobname = 'pgflow_ensure_workers'), 1,
    'exactly one pgflow_ensure_workers job after repeated setup'
);
select is(
    (select count(*)::int from cron.job as j where j.jobname = 'pgflow_cleanup_logs'), 1,
    'exactly one pgflow_cleanup_logs job after repeated setup'
);
select is(
    (select row(j.schedule, j.command) from cron.job as j where j.jobname = 'pgflow_ensure_workers'),
    row('2 seconds'::text, 'select pgflow.ensure_workers()'::text),
    'ensure_workers job: the given interval and command'
);
select is(
    (select row(j.schedule, j.command) from cron.job as j where j.jobname = 'pgflow_cleanup_logs'),
    row('0 * * * *'::text, 'select pgflow.cleanup_ensure_workers_logs()'::text),
    'cleanup job: hourly, with its command'
);

-- the first setup, with no jobs yet (pg_cron raises on unscheduling a missing job)
delete from cron.job where jobname in ('pgflow_ensure_workers', 'pgflow_cleanup_logs');
select matches(
    pgflow.setup_ensure_workers_cron(),
    '^Scheduled pgflow_ensure_workers \(every 1 second, job_id=\d+\) and pgflow_cleanup_logs \(hourly, job_id=\d+\)$',
    'works when no job exists yet; default interval 1 second'
);

select * from finish();
rollback;
