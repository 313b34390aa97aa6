-- setup_schedules_cron against the pg_cron stand-in of the pgTAP database (the real pg_cron is
-- exercised by tests/schedules/test_pg_cron.py).
begin;
select plan(5);

select is((select count(*)::int from cron.job as j where j.jobname = 'pgflow_tick_schedules'), 0,
    'the install does not schedule ticks: schedules are opt-in');
create temp table ssc_text as select pgflow.setup_schedules_cron() as t;
select is(
    (select x.t from ssc_text as x),
    format('Scheduled pgflow_tick_schedules (every minute, job_id=%s)',
        (select j.jobid from cron.job as j where j.jobname = 'pgflow_tick_schedules')),
    'returns the job id'
);
select is(
    (select row(j.schedule, j.command) from cron.job as j where j.jobname = 'pgflow_tick_schedules'),
    row('* * * * *'::text, 'select pgflow.tick_schedules()'::text),
    'every minute, ticking schedules'
);
select lives_ok($$ select pgflow.setup_schedules_cron() $$, 'calling it again works');
select is((select count(*)::int from cron.job as j where j.jobname = 'pgflow_tick_schedules'), 1,
    'exactly one job after repeated setup');

select * from finish();
rollback;
