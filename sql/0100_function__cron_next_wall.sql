-- pgflow._cron_next_wall(after, minutes, hours, days, months, weekdays, day_or): the first
-- wall-clock minute strictly after `after` (a local time, no zone) whose fields match the value
-- sets of _cron_parse; NULL when none comes within 50 years (e.g. `0 0 30 2 *`).
-- Internal: called by cron_next, which maps wall-clock times to instants in a time zone.
-- Skips whole months, days and hours that cannot match, and jumps to the next matching hour and
-- minute, so even a yearly expression takes a few dozen iterations, not one per minute.
-- Locks nothing. Raises nothing.
create or replace function pgflow._cron_next_wall(
    after timestamp,
    minutes int[],
    hours int[],
    days int[],
    months int[],
    weekdays int[],
    day_or boolean
)
returns timestamp
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_at timestamp := date_trunc('minute', _cron_next_wall.after) + interval '1 minute';
    v_limit timestamp := _cron_next_wall.after + interval '50 years';
    v_next int;
    v_dom_ok boolean;
    v_dow_ok boolean;
begin
    while v_at <= v_limit loop
        -- month: jump to the first day of the next matching month
        if not extract(month from v_at)::int = any(_cron_next_wall.months) then
            v_next := (select min(m) from unnest(_cron_next_wall.months) as m where m > extract(month from v_at));
            v_at := case
                when v_next is null then make_timestamp(
                    extract(year from v_at)::int + 1, _cron_next_wall.months[1], 1, 0, 0, 0
                )
                else make_timestamp(extract(year from v_at)::int, v_next, 1, 0, 0, 0)
            end;
            continue;
        end if;

        -- day: day-of-month and day-of-week, OR-ed or AND-ed (see _cron_parse)
        v_dom_ok := extract(day from v_at)::int = any(_cron_next_wall.days);
        v_dow_ok := extract(dow from v_at)::int = any(_cron_next_wall.weekdays);
        if not (case when _cron_next_wall.day_or then v_dom_ok or v_dow_ok else v_dom_ok and v_dow_ok end) then
            v_at := date_trunc('day', v_at) + interval '1 day';
            continue;
        end if;

        -- hour: the next matching hour of this day, else the next day
        if not extract(hour from v_at)::int = any(_cron_next_wall.hours) then
            v_next := (select min(h) from unnest(_cron_next_wall.hours) as h where h > extract(hour from v_at));
            v_at := date_trunc('day', v_at) + coalesce(make_interval(hours => v_next), interval '1 day');
            continue;
        end if;

        -- minute: the next matching minute of this hour, else the next hour
        if not extract(minute from v_at)::int = any(_cron_next_wall.minutes) then
            v_next := (select min(m) from unnest(_cron_next_wall.minutes) as m where m > extract(minute from v_at));
            v_at := date_trunc('hour', v_at) + coalesce(make_interval(mins => v_next), interval '1 hour');
            continue;
        end if;

        return v_at;
    end loop;
    return null;
end;
$$;
