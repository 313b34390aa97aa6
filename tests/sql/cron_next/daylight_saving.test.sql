-- cron_next across daylight-saving changes: croniter's answers (the oracle of
-- tests/schedules/test_cron_next_oracle.py), pinned here by example.
begin;
select plan(12);

-- America/New_York, 2026: spring forward Sunday 8 March 02:00 EST -> 03:00 EDT
select is(pgflow.cron_next('30 2 * * *', '2026-03-07 12:00-05', 'America/New_York'), '2026-03-08 03:00-04'::timestamptz,
    'spring forward: a 02:30 job fires once, at the change (03:00 EDT)');
select is(pgflow.cron_next('30 2 * * *', '2026-03-08 03:00-04', 'America/New_York'), '2026-03-09 02:30-04'::timestamptz,
    'and on the next day at 02:30 EDT');
select is(pgflow.cron_next('*/30 * * * *', '2026-03-08 01:30-05', 'America/New_York'), '2026-03-08 03:00-04'::timestamptz,
    'spring forward, hour field *: the skipped times do not fire (01:30 EST -> 03:00 EDT)');
select is(pgflow.cron_next('0 9 * * *', '2026-03-07 09:00-05', 'America/New_York'), '2026-03-08 09:00-04'::timestamptz,
    'a daily job keeps its wall-clock time across the change (23 hours later)');

-- fall back Sunday 1 November 02:00 EDT -> 01:00 EST: 01:00-01:59 happens twice
select is(pgflow.cron_next('30 1 * * *', '2026-10-31 12:00-04', 'America/New_York'), '2026-11-01 01:30-04'::timestamptz,
    'fall back: a 01:30 job fires at 01:30 EDT');
select is(pgflow.cron_next('30 1 * * *', '2026-11-01 01:30-04', 'America/New_York'), '2026-11-01 01:30-05'::timestamptz,
    'and again an hour later at 01:30 EST');
select is(pgflow.cron_next('30 1 * * *', '2026-11-01 01:30-05', 'America/New_York'), '2026-11-02 01:30-05'::timestamptz,
    'then on the next day');
select is(pgflow.cron_next('0 * * * *', '2026-11-01 01:00-04', 'America/New_York'), '2026-11-01 01:00-05'::timestamptz,
    'an hourly job fires in both 01:00 hours');
select is(pgflow.cron_next('0 2 * * *', '2026-11-01 01:59-04', 'America/New_York'), '2026-11-01 02:00-05'::timestamptz,
    'a 02:00 job fires once, two hours after 00:00');

-- Europe/London: spring forward Sunday 29 March 2026 01:00 GMT -> 02:00 BST
select is(pgflow.cron_next('15 1 * * *', '2026-03-28 12:00Z', 'Europe/London'), '2026-03-29 01:00Z'::timestamptz,
    'Europe/London: a 01:15 job fires at the change (02:00 BST)');
-- Australia/Sydney: spring forward Sunday 4 October 2026 02:00 AEST -> 03:00 AEDT;
-- fall back Sunday 5 April 2026 03:00 AEDT -> 02:00 AEST
select is(pgflow.cron_next('30 2 * * *', '2026-10-03 12:00+10', 'Australia/Sydney'), '2026-10-04 03:00+11'::timestamptz,
    'Australia/Sydney, October: a 02:30 job fires at the change (03:00 AEDT)');
select is(pgflow.cron_next('30 2 * * *', '2026-04-05 02:30+11', 'Australia/Sydney'), '2026-04-05 02:30+10'::timestamptz,
    'Australia/Sydney, April: 02:30 fires again in the repeated hour');

select * from finish();
rollback;
