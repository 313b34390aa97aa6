-- pgflow.cron_next(cron, after, timezone): the first instant strictly after `after` at which the
-- cron expression fires, with its fields read as wall-clock time in the IANA zone `timezone`.
-- Called by create_schedule/update_schedule/tick_schedules, and by anyone checking an expression
-- (`select pgflow.cron_next('*/15 9-17 * * mon-fri', now(), 'Europe/London')`).
-- Syntax (see _cron_parse): 5 fields, `*`, lists, ranges, steps (`*/15`, `10-50/10`), month and
-- day names, @hourly/@daily/@midnight/@weekly/@monthly/@yearly/@annually, and Vixie cron's rule
-- that a day matches when either restricted day field does.
-- Daylight-saving changes, as croniter (the test oracle) answers them:
--   * fall-back day: a wall-clock time in the repeated hour fires at BOTH of its instants
--     (`30 1 * * *` in America/New_York fires at 01:30 EDT and again at 01:30 EST);
--   * spring-forward day: a time in the skipped hour fires once, at the instant of the change
--     (`30 2 * * *` fires at 03:00 EDT), unless the hour field is `*` (every hour): then skipped
--     times do not fire (`*/30 * * * *` goes 01:30 EST, 03:00 EDT).
-- Works in wall-clock time (_cron_next_wall) and maps the result to an instant
-- (_cron_wall_to_instant); a second search from the wall clock shifted by the offset change
-- finds a repeated-hour time that comes first. A handful of iterations per call.
-- Locks nothing. Raises `invalid cron expression "<cron>": ...` (naming the field),
-- `unknown time zone "<zone>"`, `cron expression "<cron>" matches no time within 50 years ...`,
-- and an error for a NULL argument.
create or replace function pgflow.cron_next(cron text, after timestamptz, timezone text default 'UTC')
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
declare
    v_fields record;
    v_after_wall timestamp;
    v_wall timestamp;
    v_hit record;
    v_alt record;
    v_offset_change interval;
begin
    -- GUARD
    if cron_next.after is null then
        raise exception 'cron_next: after is NULL';
    end if;
    if cron_next.timezone is null then
        raise exception 'unknown time zone: it is NULL';
    end if;
    begin
        v_after_wall := cron_next.after at time zone cron_next.timezone;
    exception when invalid_parameter_value then
        raise exception 'unknown time zone "%": use an IANA name such as UTC or Europe/Paris '
            '(see pg_timezone_names)', cron_next.timezone;
    end;
    select * into v_fields from pgflow._cron_parse(cron_next.cron);

    -- MAIN: the next matching wall-clock time, as an instant
    v_wall := pgflow._cron_next_wall(
        v_after_wall, v_fields.minutes, v_fields.hours, v_fields.days, v_fields.months, v_fields.weekdays,
        v_fields.day_or
    );
    if v_wall is null then
        raise exception 'cron expression "%" matches no time within 50 years after %', cron_next.cron,
            v_after_wall;
    end if;
    select * into v_hit from pgflow._cron_wall_to_instant(v_wall, cron_next.timezone, cron_next.after);

    -- a time skipped by spring-forward fires at the change, unless the hour is `*`: then the next time
    if not v_hit.wall_exists and (v_hit.instant <= cron_next.after or cardinality(v_fields.hours) = 24) then
        while not v_hit.wall_exists loop
            v_wall := pgflow._cron_next_wall(
                v_wall, v_fields.minutes, v_fields.hours, v_fields.days, v_fields.months, v_fields.weekdays,
                v_fields.day_or
            );
            if v_wall is null then
                raise exception 'cron expression "%" matches no time within 50 years after %', cron_next.cron,
                    v_after_wall;
            end if;
            select * into v_hit from pgflow._cron_wall_to_instant(v_wall, cron_next.timezone, cron_next.after);
        end loop;
    end if;

    -- the offset changed between `after` and the hit: a time of the repeated hour may come first
    v_offset_change := ((v_hit.instant at time zone cron_next.timezone) - (v_hit.instant at time zone 'UTC'))
        - (v_after_wall - (cron_next.after at time zone 'UTC'));
    if v_offset_change <> interval '0' then
        v_wall := pgflow._cron_next_wall(
            v_after_wall + v_offset_change, v_fields.minutes, v_fields.hours, v_fields.days, v_fields.months,
            v_fields.weekdays, v_fields.day_or
        );
        if v_wall is not null then
            select * into v_alt from pgflow._cron_wall_to_instant(v_wall, cron_next.timezone, cron_next.after);
            if v_alt.wall_exists and v_alt.instant > cron_next.after and v_alt.instant < v_hit.instant then
                return v_alt.instant;
            end if;
        end if;
    end if;

    return v_hit.instant;
end;
$$;
