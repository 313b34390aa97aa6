begin;
select plan(6);

delete from cron.job_run_details;
insert into cron.job_run_details (runid, jobid, command, status, end_time) values
(900001, 1, 'select 1', 'succeeded', now() - interval '30 hours'),
(900002, 1, 'select 1', 'succeeded', now() - interval '25 hours'),
(900003, 1, 'select 1', 'succeeded', now() - interval '2 hours'),
(900004, 1, 'select 1', 'running', null);

select is(
    (select r.cron_deleted from pgflow.cleanup_ensure_workers_logs() as r),
    2::bigint,
    'by default rows that ended more than 24 hours ago are deleted, and counted'
);
select is(
    (select array_agg(d.runid order by d.runid) from cron.job_run_details as d),
    array[900003, 900004]::bigint [],
    'recent and unfinished runs stay'
);
select is(
    (select r.cron_deleted from pgflow.cleanup_ensure_workers_logs(retention_hours => 1) as r),
    1::bigint,
    'retention_hours sets the horizon'
);
select is(
    (select r.cron_deleted from pgflow.cleanup_ensure_workers_logs(1) as r),
    0::bigint,
    'nothing left to delete returns 0'
);
select is(
    (select p.prosecdef from pg_proc as p where p.oid = 'pgflow.cleanup_ensure_workers_logs(integer)'::regprocedure),
    true,
    'runs as security definer'
);
select has_function('pgflow', 'cleanup_ensure_workers_logs', array['integer'], 'signature (retention_hours integer)');

select * from finish();
rollback;
