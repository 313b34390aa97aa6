-- pgflow._cron_wall_to_instant(wall, timezone, after): the instant at which the wall-clock time
-- `wall` occurs in `timezone`, as croniter maps it. Internal: called by cron_next.
--   * a time that occurs once: that instant (wall_exists);
--   * a time that occurs twice (the repeated hour of a fall-back day): the earlier occurrence if
--     it is after `after`, else the later one (wall_exists);
--   * a time that does not occur (skipped by a spring-forward change): the first wall-clock
--     minute after it that does, i.e. the instant of the change (wall_exists = false).
-- Offsets are compared 6 hours either side, which covers every daylight-saving change in tzdata.
-- Locks nothing. Raises nothing (the zone is checked by cron_next).
create or replace function pgflow._cron_wall_to_instant(
    wall timestamp,
    timezone text,
    after timestamptz,
    out instant timestamptz,
    out wall_exists boolean
)
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_wall timestamp := _cron_wall_to_instant.wall;
    v_instant timestamptz := _cron_wall_to_instant.wall at time zone _cron_wall_to_instant.timezone;
    v_other timestamptz;
    v_probe timestamptz;
begin
    if (v_instant at time zone _cron_wall_to_instant.timezone) <> v_wall then
        -- skipped by a change: walk to the first wall-clock minute that exists (at most the change's size)
        for i in 1..1440 loop
            v_wall := v_wall + interval '1 minute';
            v_instant := v_wall at time zone _cron_wall_to_instant.timezone;
            exit when (v_instant at time zone _cron_wall_to_instant.timezone) = v_wall;
        end loop;
        instant := v_instant;
        wall_exists := false;
        return;
    end if;

    -- the other occurrence, if any: the same wall time read with the offset in force 6 h earlier or later
    foreach v_probe in array array[v_instant - interval '6 hours', v_instant + interval '6 hours'] loop
        v_other := (
            v_wall - ((v_probe at time zone _cron_wall_to_instant.timezone) - (v_probe at time zone 'UTC'))
        ) at time zone 'UTC';
        if v_other <> v_instant and (v_other at time zone _cron_wall_to_instant.timezone) = v_wall then
            instant := case
                when least(v_instant, v_other) > _cron_wall_to_instant.after then least(v_instant, v_other)
                else greatest(v_instant, v_other)
            end;
            wall_exists := true;
            return;
        end if;
    end loop;

    instant := v_instant;
    wall_exists := true;
end;
$$;
