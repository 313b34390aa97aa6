-- cron_next: bad expressions and zones raise errors that name what is wrong.
begin;
select plan(18);

select throws_ok($$ select pgflow.cron_next('60 * * * *', now()) $$, 'P0001',
    'invalid cron expression "60 * * * *": minute field "60": 60 is out of range 0-59', 'minute out of range');
select throws_ok($$ select pgflow.cron_next('0 24 * * *', now()) $$, 'P0001',
    'invalid cron expression "0 24 * * *": hour field "24": 24 is out of range 0-23', 'hour out of range');
select throws_ok($$ select pgflow.cron_next('0 0 0 * *', now()) $$, 'P0001',
    'invalid cron expression "0 0 0 * *": day-of-month field "0": 0 is out of range 1-31', 'day of month out of range');
select throws_ok($$ select pgflow.cron_next('0 0 * 13 *', now()) $$, 'P0001',
    'invalid cron expression "0 0 * 13 *": month field "13": 13 is out of range 1-12', 'month out of range');
select throws_ok($$ select pgflow.cron_next('0 0 * * 8', now()) $$, 'P0001',
    'invalid cron expression "0 0 * * 8": day-of-week field "8": 8 is out of range 0-7', 'day of week out of range');
select throws_ok($$ select pgflow.cron_next('0 0 * foo *', now()) $$, 'P0001',
    'invalid cron expression "0 0 * foo *": month field "foo": "foo" is not a number or a name', 'unknown month name');
select throws_ok($$ select pgflow.cron_next('0 mon * * *', now()) $$, 'P0001',
    'invalid cron expression "0 mon * * *": hour field "mon": "mon" is not a number', 'names only where the field has them');
select throws_ok($$ select pgflow.cron_next('*/0 * * * *', now()) $$, 'P0001',
    'invalid cron expression "*/0 * * * *": minute field "*/0": a step must be at least 1', 'step 0');
select throws_ok($$ select pgflow.cron_next('1,,2 * * * *', now()) $$, 'P0001',
    'invalid cron expression "1,,2 * * * *": minute field "1,,2": "" is not a value, a range or a step', 'empty list element');
select throws_ok($$ select pgflow.cron_next('1-2-3 * * * *', now()) $$, 'P0001',
    'invalid cron expression "1-2-3 * * * *": minute field "1-2-3": "1-2-3" has more than two bounds', 'three bounds');
select throws_ok($$ select pgflow.cron_next('0 0 L * *', now()) $$, 'P0001',
    'invalid cron expression "0 0 L * *": day-of-month field "l": "l" is not a number', 'L is not supported');
select throws_ok($$ select pgflow.cron_next('* * * *', now()) $$, 'P0001',
    'invalid cron expression "* * * *": expected 5 fields (minute hour day-of-month month day-of-week), got 4',
    'four fields');
select throws_ok($$ select pgflow.cron_next('0 * * * * *', now()) $$, 'P0001',
    'invalid cron expression "0 * * * * *": expected 5 fields (minute hour day-of-month month day-of-week), got 6',
    'six fields (no seconds field)');
select throws_ok($$ select pgflow.cron_next('@reboot', now()) $$, 'P0001',
    'invalid cron expression "@reboot": unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)',
    'unknown macro');
select throws_ok($$ select pgflow.cron_next('0 0 30 2 *', '2026-01-01Z') $$, 'P0001',
    'cron expression "0 0 30 2 *" matches no time within 50 years after 2026-01-01 00:00:00', 'an impossible date');
select throws_ok($$ select pgflow.cron_next('* * * * *', now(), 'Mars/Olympus_Mons') $$, 'P0001',
    'unknown time zone "Mars/Olympus_Mons": use an IANA name such as UTC or Europe/Paris (see pg_timezone_names)',
    'unknown time zone');
select throws_ok($$ select pgflow.cron_next(null, now()) $$, 'P0001',
    'invalid cron expression: it is NULL', 'NULL expression');
select throws_ok($$ select pgflow.cron_next('* * * * *', null) $$, 'P0001', 'cron_next: after is NULL', 'NULL after');

select * from finish();
rollback;
