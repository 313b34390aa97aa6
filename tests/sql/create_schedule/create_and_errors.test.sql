-- create_schedule: the row it writes, and a clear error (nothing written) for each bad setting.
begin;
select plan(19);

select pgflow.create_flow('cs_flow');
select pgflow.add_step('cs_flow', 'only');
select pgflow.create_flow('cs_map_flow');
select pgflow.add_step('cs_map_flow', 'each', step_type => 'map');

select is(
    (select row(s.schedule_slug, s.flow_slug, s.cron, s.timezone, s.input, s.enabled, s.overlap_policy,
                s.catchup_policy, s.catchup_window, s.next_scheduled_start_time, s.last_run_id, s.last_scheduled_for)
     from pgflow.create_schedule('cs_hourly', 'cs_flow', '0 * * * *', start_after => '2030-01-01 10:20Z') as s),
    row('cs_hourly'::text, 'cs_flow'::text, '0 * * * *'::text, 'UTC'::text, '{}'::jsonb, true, 'allow'::text,
        'latest'::text, interval '1 day', '2030-01-01 11:00Z'::timestamptz, null::uuid, null::timestamptz),
    'defaults: UTC, input {}, enabled, allow, latest, a 1-day window; the first time after start_after'
);
select is(
    (select s.next_scheduled_start_time
     from pgflow.create_schedule(
         'cs_paris', 'cs_flow', '0 9 * * *', input => '{"report": "daily"}', timezone => 'Europe/Paris',
         overlap_policy => 'skip', catchup_policy => 'all', catchup_window => '2 hours',
         start_after => '2030-01-01 10:20Z'
     ) as s),
    '2030-01-02 08:00Z'::timestamptz,
    'the first time is read in the schedule''s zone (09:00 Paris = 08:00 UTC in winter)'
);
select is(
    (select row(s.input, s.overlap_policy, s.catchup_policy, s.catchup_window)
     from pgflow.schedules as s where s.schedule_slug = 'cs_paris'),
    row('{"report": "daily"}'::jsonb, 'skip'::text, 'all'::text, interval '2 hours'),
    'every option is stored'
);
select cmp_ok(
    (select s.next_scheduled_start_time from pgflow.create_schedule('cs_now', 'cs_flow', '* * * * *') as s),
    '>', now(),
    'without start_after the first time is after now()'
);
select is(
    (select s.enabled from pgflow.create_schedule('cs_off', 'cs_flow', '@daily', enabled => false) as s),
    false, 'a schedule can be created disabled'
);

select throws_ok($$ select pgflow.create_schedule('cs_hourly', 'cs_flow', '* * * * *') $$, 'P0001',
    'schedule "cs_hourly" already exists (change it with pgflow.update_schedule)', 'a duplicate slug');
select throws_ok($$ select pgflow.create_schedule('2bad', 'cs_flow', '* * * * *') $$, 'P0001',
    'invalid schedule slug "2bad": use letters, digits and underscores, starting with a letter or an underscore, at most 128 characters',
    'an invalid slug');
select throws_ok($$ select pgflow.create_schedule(null, 'cs_flow', '* * * * *') $$, 'P0001',
    'invalid schedule slug NULL: use letters, digits and underscores, starting with a letter or an underscore, at most 128 characters',
    'a NULL slug');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'no_such_flow', '* * * * *') $$, 'P0001',
    'flow "no_such_flow" does not exist', 'an unknown flow');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'cs_map_flow', '* * * * *') $$, 'P0001',
    'flow "cs_map_flow" has a root map step: its input must be an array, but a scheduled run''s input is a JSON object',
    'a flow whose input must be an array');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'cs_flow', '61 * * * *') $$, 'P0001',
    'invalid cron expression "61 * * * *": minute field "61": 61 is out of range 0-59', 'a bad expression names the field');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'cs_flow', '* * * * *', timezone => 'Europe/Pariss') $$, 'P0001',
    'unknown time zone "Europe/Pariss": use an IANA name such as UTC or Europe/Paris (see pg_timezone_names)',
    'an unknown time zone');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'cs_flow', '* * * * *', input => '[1]') $$, 'P0001',
    'schedule input must be a JSON object (got array): each run gets it with a "scheduled_for" key added',
    'input that is not an object');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'cs_flow', '* * * * *', overlap_policy => 'buffer') $$,
    'P0001', 'overlap_policy must be ''allow'' or ''skip'' (got ''buffer'')', 'an unknown overlap policy');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'cs_flow', '* * * * *', catchup_policy => 'none') $$,
    'P0001', 'catchup_policy must be ''latest'' or ''all'' (got ''none'')', 'an unknown catch-up policy');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'cs_flow', '* * * * *', catchup_window => '-1 hour') $$,
    'P0001', 'catchup_window must be positive (got -01:00:00)', 'a negative catch-up window');
select throws_ok($$ select pgflow.create_schedule('cs_x', 'cs_flow', '* * * * *', enabled => null) $$,
    'P0001', 'enabled must be true or false (got NULL)', 'enabled NULL');
select is((select count(*)::int from pgflow.schedules as s where s.schedule_slug = 'cs_x'), 0,
    'none of the refused calls wrote a row');

-- the flow key is checked at commit: a flow that still has schedules cannot be deleted for good
select throws_ok(
    $$ select pgflow.delete_flow_and_data('cs_flow'); set constraints pgflow.schedules_flow_slug_fkey immediate $$,
    '23503', null, 'deleting a flow that schedules name fails at commit (checked here with SET CONSTRAINTS)'
);

select * from finish();
rollback;
