-- _cron_parse: value sets, and when the two day fields are OR-ed (croniter's reading of Vixie's rule).
begin;
select plan(7);

select is((select p.minutes from pgflow._cron_parse('*/20 * * * *') as p), array[0, 20, 40], 'a step over *');
select is((select p.weekdays from pgflow._cron_parse('0 0 * * 5-7') as p), array[0, 5, 6], '7 folds onto 0');
select is((select p.weekdays from pgflow._cron_parse('0 0 * * fri-mon') as p), array[0, 1, 5, 6], 'a wrapping range');
select is((select p.day_or from pgflow._cron_parse('0 0 1 * mon') as p), true, 'both day fields restricted: OR');
select is((select p.day_or from pgflow._cron_parse('0 0 * * mon') as p), false, 'day of month *: AND (day of week alone)');
select is((select p.day_or from pgflow._cron_parse('0 0 1-31 * */2') as p), false,
    'every day of month while the other field has a *: unrestricted, AND');
select is((select p.day_or from pgflow._cron_parse('0 0 1-31 * mon') as p), true,
    'every day of month while the other field has no *: restricted, OR (every day)');

select * from finish();
rollback;
