-- cron_next: every piece of the syntax, with answers worked out by hand (UTC unless named).
begin;
select plan(22);

select is(pgflow.cron_next('* * * * *', '2026-01-01 10:00:00Z'), '2026-01-01 10:01:00Z'::timestamptz,
    'strictly after: a matching instant is not its own next time');
select is(pgflow.cron_next('* * * * *', '2026-01-01 10:00:30Z'), '2026-01-01 10:01:00Z'::timestamptz,
    'seconds are dropped: the next whole minute');
select is(pgflow.cron_next('*/15 * * * *', '2026-01-01 10:16:00Z'), '2026-01-01 10:30:00Z'::timestamptz,
    'a step over the whole field');
select is(pgflow.cron_next('10-50/20 * * * *', '2026-01-01 10:31:00Z'), '2026-01-01 10:50:00Z'::timestamptz,
    'a step over a range: 10, 30, 50');
select is(pgflow.cron_next('50/5 * * * *', '2026-01-01 10:56:00Z'), '2026-01-01 11:50:00Z'::timestamptz,
    'a/n runs from a to the end of the field: 50, 55');
select is(pgflow.cron_next('5,7,9 * * * *', '2026-01-01 10:07:00Z'), '2026-01-01 10:09:00Z'::timestamptz,
    'a list');
select is(pgflow.cron_next('50-10/10 * * * *', '2026-01-01 10:55:00Z'), '2026-01-01 11:00:00Z'::timestamptz,
    'a range that wraps around: 50, 0, 10');
select is(pgflow.cron_next('0 9 * jan-mar,DEC mon-fri', '2026-03-27 10:00Z'), '2026-03-30 09:00Z'::timestamptz,
    'month and day names, any case: Friday 27 March 10:00 -> Monday 30 March');
select is(pgflow.cron_next('0 0 * * 7', '2026-01-01Z'), '2026-01-04Z'::timestamptz, 'day of week 7 is Sunday');
select is(pgflow.cron_next('0 0 * * sun', '2026-01-01Z'), '2026-01-04Z'::timestamptz, 'sun is Sunday');
select is(pgflow.cron_next('0 0 13 * fri', '2026-02-01Z'), '2026-02-06Z'::timestamptz,
    'day of month and day of week both restricted: either matches (Friday 6 Feb before the 13th)');
select is(pgflow.cron_next('0 0 13 * *', '2026-02-01Z'), '2026-02-13Z'::timestamptz,
    'day of week *: only the day of month counts');
select is(pgflow.cron_next('0 0 * * fri', '2026-02-07Z'), '2026-02-13Z'::timestamptz,
    'day of month *: only the day of week counts');
select is(pgflow.cron_next('0 0 ? * fri', '2026-02-07Z'), '2026-02-13Z'::timestamptz, '? is * in a day field');
select is(pgflow.cron_next('@hourly', '2026-01-01 10:00Z'), '2026-01-01 11:00Z'::timestamptz, '@hourly');
select is(pgflow.cron_next('@daily', '2026-01-01 10:00Z'), '2026-01-02Z'::timestamptz, '@daily');
select is(pgflow.cron_next('@midnight', '2026-01-01 10:00Z'), '2026-01-02Z'::timestamptz, '@midnight');
select is(pgflow.cron_next('@weekly', '2026-01-01 10:00Z'), '2026-01-04Z'::timestamptz, '@weekly: Sunday 00:00');
select is(pgflow.cron_next('@monthly', '2026-01-01 10:00Z'), '2026-02-01Z'::timestamptz, '@monthly');
select is(pgflow.cron_next('@yearly', '2026-01-01 10:00Z'), '2027-01-01Z'::timestamptz, '@yearly');
select is(pgflow.cron_next('@annually', '2026-01-01 10:00Z'), '2027-01-01Z'::timestamptz, '@annually');
select is(pgflow.cron_next('0 0 29 2 *', '2097-03-01Z'), '2104-02-29Z'::timestamptz,
    'a leap day seven years away (2100 is not a leap year)');

select * from finish();
rollback;
