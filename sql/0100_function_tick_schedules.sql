-- pgflow.tick_schedules(now): starts the runs that schedules owe at `now` (default now(); a past
-- or future instant works too, for tests and backfills) and advances each schedule; returns one
-- row per run started (schedule_slug, run_id, scheduled_for), oldest scheduled time first per
-- schedule. Called every few seconds by workers, every minute by pg_cron (setup_schedules_cron),
-- or by any timer; any number of sessions may call it at once.
-- For each enabled schedule whose next_scheduled_start_time <= now:
--   * the due times: `latest` - only the most recent time <= now; `all` - every time <= now and
--     no older than now - catchup_window, oldest first (older ones are dropped);
--   * for each: nothing if a run of this schedule already exists for that time; nothing if
--     overlap_policy is `skip` and a run of this schedule is still `started`; otherwise
--     start_flow(flow_slug, input || {"scheduled_for": "<time, ISO 8601 UTC>"}), recorded in
--     schedule_runs (one row per schedule and time: each time starts at most once);
--   * next_scheduled_start_time := the first time after now; last_run_id/last_scheduled_for :=
--     the last run started.
-- A schedule whose start fails (its flow raises) is advanced all the same, with a WARNING naming
-- it and the error, so that it cannot hold the others back; its runs of this tick are undone.
-- Locks: the due schedule rows (FOR UPDATE SKIP LOCKED, in next_scheduled_start_time order: a
-- schedule another session is ticking is left to it, nothing waits), then what start_flow locks,
-- then the new schedule_runs rows.
-- Raises `tick_schedules: now is NULL`.
create or replace function pgflow.tick_schedules(now timestamptz default now())
returns table (schedule_slug text, run_id uuid, scheduled_for timestamptz)
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_now timestamptz := tick_schedules.now;
    v_schedule pgflow.schedules;
    v_times timestamptz[];
    v_time timestamptz;
    v_low timestamptz;
    v_high timestamptz;
    v_mid timestamptz;
    v_run_id uuid;
    v_started_runs uuid[];
    v_started_times timestamptz[];
begin
    if v_now is null then
        raise exception 'tick_schedules: now is NULL';
    end if;

    -- LOCKS: claim every due schedule nobody else is ticking
    for v_schedule in
        select s.*
        from pgflow.schedules as s
        where s.enabled and s.next_scheduled_start_time <= v_now
        order by s.next_scheduled_start_time, s.schedule_slug
        for update skip locked
    loop
        -- MAIN: the due times
        if v_schedule.catchup_policy = 'all' then
            v_time := v_schedule.next_scheduled_start_time;
            if v_time < v_now - v_schedule.catchup_window then
                v_time := pgflow.cron_next(
                    v_schedule.cron, v_now - v_schedule.catchup_window - interval '1 microsecond', v_schedule.timezone
                );
            end if;
            v_times := '{}'::timestamptz[];
            while v_time <= v_now loop
                v_times := v_times || v_time;
                v_time := pgflow.cron_next(v_schedule.cron, v_time, v_schedule.timezone);
            end loop;
        else
            -- latest: the last time <= now, by binary search on the instant to search after, keeping
            -- cron_next(v_low) <= now < cron_next(v_high); fire times are whole minutes, so once the
            -- two are less than a minute apart, cron_next(v_low) is it. A year of downtime: ~20 steps.
            v_low := v_schedule.next_scheduled_start_time - interval '1 microsecond';
            v_high := v_now;
            while v_high - v_low >= interval '1 minute' loop
                v_mid := v_low + (v_high - v_low) / 2;
                if pgflow.cron_next(v_schedule.cron, v_mid, v_schedule.timezone) <= v_now then
                    v_low := v_mid;
                else
                    v_high := v_mid;
                end if;
            end loop;
            v_times := array[pgflow.cron_next(v_schedule.cron, v_low, v_schedule.timezone)];
        end if;

        v_started_runs := '{}'::uuid[];
        v_started_times := '{}'::timestamptz[];
        begin
            foreach v_time in array v_times loop
                continue when exists (
                    select 1
                    from pgflow.schedule_runs as sr
                    where sr.schedule_slug = v_schedule.schedule_slug and sr.scheduled_for = v_time
                );
                continue when v_schedule.overlap_policy = 'skip' and exists (
                    select 1
                    from pgflow.runs as r
                    inner join pgflow.schedule_runs as sr on sr.run_id = r.run_id
                    where r.status = 'started' and sr.schedule_slug = v_schedule.schedule_slug
                );
                select r.run_id into v_run_id
                from pgflow.start_flow(
                    v_schedule.flow_slug,
                    v_schedule.input || jsonb_build_object(
                        'scheduled_for', to_char(v_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                    )
                ) as r;
                insert into pgflow.schedule_runs (schedule_slug, scheduled_for, run_id)
                values (v_schedule.schedule_slug, v_time, v_run_id);
                v_started_runs := v_started_runs || v_run_id;
                v_started_times := v_started_times || v_time;
            end loop;
        exception when others then
            raise warning 'tick_schedules: schedule "%" (flow "%") could not start its run: % (SQLSTATE %)',
                v_schedule.schedule_slug, v_schedule.flow_slug, sqlerrm, sqlstate;
            v_started_runs := '{}'::uuid[];
            v_started_times := '{}'::timestamptz[];
        end;

        update pgflow.schedules as s
        set
            next_scheduled_start_time = pgflow.cron_next(s.cron, v_now, s.timezone),
            last_run_id = coalesce(v_started_runs[cardinality(v_started_runs)], s.last_run_id),
            last_scheduled_for = coalesce(v_started_times[cardinality(v_started_times)], s.last_scheduled_for),
            updated_at = greatest(pg_catalog.now(), s.created_at)
        where s.schedule_slug = v_schedule.schedule_slug;

        return query
        select v_schedule.schedule_slug, t.run_id, t.scheduled_for
        from unnest(v_started_runs, v_started_times) as t (run_id, scheduled_for);
    end loop;
end;
$$;
