-- update_schedule, pause_schedule, resume_schedule, delete_schedule: what each changes, and the
-- errors for an unknown schedule or a bad new setting (nothing written).
begin;
select plan(16);

select pgflow.create_flow('us_flow');
select pgflow.add_step('us_flow', 'only');
select pgflow.create_flow('us_other');
select pgflow.create_schedule('us_s', 'us_flow', '0 * * * *', start_after => '2030-01-01 10:20Z');

select is(
    (select row(s.input, s.overlap_policy, s.next_scheduled_start_time)
     from pgflow.update_schedule('us_s', input => '{"a": 1}', overlap_policy => 'skip') as s),
    row('{"a": 1}'::jsonb, 'skip'::text, '2030-01-01 11:00Z'::timestamptz),
    'only the settings given change; the next time stays when the expression does not'
);
select is(
    (select s.flow_slug from pgflow.update_schedule('us_s', flow_slug => 'us_other') as s), 'us_other',
    'the flow can change'
);
select cmp_ok(
    (select s.next_scheduled_start_time from pgflow.update_schedule('us_s', cron => '*/5 * * * *') as s),
    '<=', now() + interval '5 minutes',
    'a new expression: the next time is recomputed from now()'
);
select is(
    (select extract(minute from s.next_scheduled_start_time at time zone 'UTC')::int % 5
     from pgflow.schedules as s where s.schedule_slug = 'us_s'),
    0, 'and matches the new expression'
);
select throws_ok($$ select pgflow.update_schedule('us_s', cron => '* * * * mon-funday') $$, 'P0001',
    'invalid cron expression "* * * * mon-funday": day-of-week field "mon-funday": "funday" is not a number or a name',
    'a bad new expression is refused');
select throws_ok($$ select pgflow.update_schedule('us_s', flow_slug => 'nope') $$, 'P0001',
    'flow "nope" does not exist', 'an unknown new flow is refused');
select is((select s.cron from pgflow.schedules as s where s.schedule_slug = 'us_s'), '*/5 * * * *',
    'a refused update wrote nothing');
select throws_ok($$ select pgflow.update_schedule('nope', cron => '* * * * *') $$, 'P0001',
    'schedule "nope" does not exist', 'update: unknown schedule');

-- pause and resume
select is((select s.enabled from pgflow.pause_schedule('us_s') as s), false, 'pause disables');
select is((select s.enabled from pgflow.pause_schedule('us_s') as s), false, 'pausing twice is fine');
update pgflow.schedules set next_scheduled_start_time = '2000-01-01Z' where schedule_slug = 'us_s';
select cmp_ok(
    (select s.next_scheduled_start_time from pgflow.resume_schedule('us_s') as s), '>', now(),
    'resume enables and moves the next time after now(): paused times are not caught up'
);
select is((select s.enabled from pgflow.schedules as s where s.schedule_slug = 'us_s'), true, 'resumed');
select throws_ok($$ select pgflow.pause_schedule('nope') $$, 'P0001', 'schedule "nope" does not exist',
    'pause: unknown schedule');
select throws_ok($$ select pgflow.resume_schedule('nope') $$, 'P0001', 'schedule "nope" does not exist',
    'resume: unknown schedule');

-- delete
select is((select s.schedule_slug from pgflow.delete_schedule('us_s') as s), 'us_s', 'delete returns the row');
select throws_ok($$ select pgflow.delete_schedule('us_s') $$, 'P0001', 'schedule "us_s" does not exist',
    'delete: unknown (already deleted) schedule');

select * from finish();
rollback;
