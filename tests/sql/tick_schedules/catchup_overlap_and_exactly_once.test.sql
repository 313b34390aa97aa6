-- tick_schedules with a simulated clock: due runs start once, with the scheduled time in their
-- input and in schedule_runs; catch-up `latest` and `all` after downtime; overlap `skip`;
-- disabled schedules; a schedule whose flow fails to start does not hold the others back.
begin;
select plan(24);

select pgflow.create_flow('ts_flow');
select pgflow.add_step('ts_flow', 'only');
select pgflow.create_schedule('ts_every_minute', 'ts_flow', '* * * * *', start_after => '2030-01-01 00:00Z');

select is((select count(*)::int from pgflow.tick_schedules('2030-01-01 00:00:59Z')), 0, 'nothing is due before the first time');
create temp table ts_first as select * from pgflow.tick_schedules('2030-01-01 00:01:00Z');
select is((select count(*)::int from ts_first), 1, 'at the first time, one run starts');
select is(
    (select row(t.schedule_slug, t.scheduled_for) from ts_first as t),
    row('ts_every_minute'::text, '2030-01-01 00:01Z'::timestamptz), 'the row names the schedule and the time'
);
select is(
    (select r.input from pgflow.runs as r inner join ts_first as t on t.run_id = r.run_id),
    '{"scheduled_for": "2030-01-01T00:01:00Z"}'::jsonb,
    'the run''s input carries its scheduled time (ISO 8601, UTC)'
);
select is(
    (select row(sr.schedule_slug, sr.scheduled_for) from pgflow.schedule_runs as sr inner join ts_first as t on t.run_id = sr.run_id),
    row('ts_every_minute'::text, '2030-01-01 00:01Z'::timestamptz), 'schedule_runs records the run'
);
select is(
    (select row(s.next_scheduled_start_time, s.last_run_id, s.last_scheduled_for) from pgflow.schedules as s
     where s.schedule_slug = 'ts_every_minute'),
    row('2030-01-01 00:02Z'::timestamptz, (select t.run_id from ts_first as t), '2030-01-01 00:01Z'::timestamptz),
    'the schedule advanced and remembers its last run'
);
select is((select count(*)::int from pgflow.tick_schedules('2030-01-01 00:01:30Z')), 0, 'a second tick in the same minute starts nothing');
select is((select count(*)::int from pgflow.tick_schedules('2030-01-01 00:00:30Z')), 0, 'a tick in the past starts nothing again');

-- replaying a time that already has its run starts nothing (exactly once)
update pgflow.schedules set next_scheduled_start_time = '2030-01-01 00:01Z' where schedule_slug = 'ts_every_minute';
select is((select count(*)::int from pgflow.tick_schedules('2030-01-01 00:01:10Z')), 0,
    'a time rewound onto an existing run does not start it twice');

-- downtime of 10 minutes: latest starts the most recent time only
select is(
    (select array_agg(t.scheduled_for) from pgflow.tick_schedules('2030-01-01 00:12:00Z') as t),
    array['2030-01-01 00:12Z'::timestamptz], 'latest: after 10 missed minutes, one run, for the latest time'
);
select is((select s.next_scheduled_start_time from pgflow.schedules as s where s.schedule_slug = 'ts_every_minute'),
    '2030-01-01 00:13Z'::timestamptz, 'and the schedule moves past now');

-- all: every missed time, oldest first
select pgflow.update_schedule('ts_every_minute', catchup_policy => 'all');
select is(
    (select array_agg(t.scheduled_for order by t.scheduled_for) from pgflow.tick_schedules('2030-01-01 00:22:30Z') as t),
    array(select g from generate_series('2030-01-01 00:13Z'::timestamptz, '2030-01-01 00:22Z', interval '1 minute') as g),
    'all: after 10 missed minutes, 10 runs, one per time'
);
select pgflow.update_schedule('ts_every_minute', catchup_window => '5 minutes');
select is(
    (select array_agg(t.scheduled_for order by t.scheduled_for) from pgflow.tick_schedules('2030-01-01 00:40:00Z') as t),
    array(select g from generate_series('2030-01-01 00:35Z'::timestamptz, '2030-01-01 00:40Z', interval '1 minute') as g),
    'all: times older than the catch-up window are dropped'
);

-- latest over a long downtime
select pgflow.update_schedule('ts_every_minute', catchup_policy => 'latest');
select is(
    (select array_agg(t.scheduled_for) from pgflow.tick_schedules('2031-06-15 08:30:45Z') as t),
    array['2031-06-15 08:30Z'::timestamptz], 'latest after a year and a half: the minute before now'
);

-- overlap skip: nothing starts while a run of this schedule is started
select pgflow.create_schedule('ts_skip', 'ts_flow', '*/10 * * * *', overlap_policy => 'skip', start_after => '2030-01-01 00:00Z');
create temp table ts_skip_first as select * from pgflow.tick_schedules('2030-01-01 00:10Z') where schedule_slug = 'ts_skip';
select is((select count(*)::int from ts_skip_first), 1, 'skip: the first run starts');
select is((select count(*)::int from pgflow.tick_schedules('2030-01-01 00:20Z') as t where t.schedule_slug = 'ts_skip'), 0,
    'skip: nothing starts while that run is still started');
select is((select s.next_scheduled_start_time from pgflow.schedules as s where s.schedule_slug = 'ts_skip'),
    '2030-01-01 00:30Z'::timestamptz, 'skip: the skipped time is dropped, the schedule moves on');
update pgflow.runs set status = 'completed', remaining_steps = 0, completed_at = now()
where run_id = (select t.run_id from ts_skip_first as t);
select is((select count(*)::int from pgflow.tick_schedules('2030-01-01 00:30Z') as t where t.schedule_slug = 'ts_skip'), 1,
    'skip: once the run is over, the next time starts');

-- allow: a second run starts while the first is still started
select is((select count(*)::int from pgflow.runs as r inner join pgflow.schedule_runs as sr on sr.run_id = r.run_id
           where sr.schedule_slug = 'ts_every_minute' and r.status = 'started') > 1, true,
    'allow: runs of one schedule overlap');

-- disabled schedules are not ticked
select pgflow.pause_schedule('ts_every_minute');
select is((select count(*)::int from pgflow.tick_schedules('2032-01-01Z') as t where t.schedule_slug = 'ts_every_minute'), 0,
    'a paused schedule starts nothing');

-- a schedule whose flow fails to start: a warning, the schedule advances, the others still start
select pgflow.create_flow('ts_broken');
select pgflow.add_step('ts_broken', 'only');
select pgflow.create_schedule('ts_broken_s', 'ts_broken', '* * * * *', start_after => '2040-01-01Z');
select pgflow.create_schedule('ts_fine_s', 'ts_flow', '* * * * *', start_after => '2040-01-01Z');
-- a map step added after the schedule: start_flow now refuses the object input
select pgflow.add_step('ts_broken', 'each', step_type => 'map');
create temp table ts_mixed as select * from pgflow.tick_schedules('2040-01-01 00:01Z');
select is((select array_agg(t.schedule_slug) from ts_mixed as t where t.schedule_slug like 'ts\_%\_s'),
    array['ts_fine_s'], 'the healthy schedule started its run');
select is((select count(*)::int from pgflow.runs as r where r.flow_slug = 'ts_broken'), 0,
    'the broken one started nothing');
select is((select s.next_scheduled_start_time from pgflow.schedules as s where s.schedule_slug = 'ts_broken_s'),
    '2040-01-01 00:02Z'::timestamptz, 'and was advanced, so it does not block every tick');

select throws_ok($$ select * from pgflow.tick_schedules(null) $$, 'P0001', 'tick_schedules: now is NULL', 'now NULL');

select * from finish();
rollback;
