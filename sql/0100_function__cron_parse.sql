-- pgflow._cron_parse(cron): a 5-field cron expression (minute hour day-of-month month
-- day-of-week) or a macro, as sorted value sets plus the day rule. Internal: called by cron_next.
-- Macros: @yearly and @annually (`0 0 1 1 *`), @monthly (`0 0 1 * *`), @weekly (`0 0 * * 0`),
-- @daily and @midnight (`0 0 * * *`), @hourly (`0 * * * *`). Fields: see _cron_field; months and
-- days of the week take English names (jan-dec, sun-sat); day of week 7 is Sunday, like 0; `?`
-- in a day field means `*`.
-- The day rule (Vixie cron's, as croniter applies it): when both day fields are restricted, a day
-- matches if EITHER matches (day_or); otherwise both must. A day field is unrestricted when it is
-- `*` or `?`, or when it lists every value and the other day field's text contains a `*`.
-- Locks nothing. Raises `invalid cron expression "<cron>": ...` naming the bad field, or saying
-- how many fields were given; L, W and # (and seconds or years fields) are not supported.
create or replace function pgflow._cron_parse(
    cron text,
    out minutes int[],
    out hours int[],
    out days int[],
    out months int[],
    out weekdays int[],
    out day_or boolean
)
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_expr text := lower(btrim(_cron_parse.cron));
    v_fields text[];
    v_dom_star boolean;
    v_dow_star boolean;
begin
    if _cron_parse.cron is null then
        raise exception 'invalid cron expression: it is NULL';
    end if;
    v_expr := case v_expr
        when '@yearly' then '0 0 1 1 *'
        when '@annually' then '0 0 1 1 *'
        when '@monthly' then '0 0 1 * *'
        when '@weekly' then '0 0 * * 0'
        when '@daily' then '0 0 * * *'
        when '@midnight' then '0 0 * * *'
        when '@hourly' then '0 * * * *'
        else v_expr
    end;
    if v_expr like '@%' then
        raise exception 'invalid cron expression "%": unknown macro (use @yearly, @annually, @monthly, @weekly, '
            '@daily, @midnight or @hourly)', _cron_parse.cron;
    end if;
    v_fields := regexp_split_to_array(v_expr, '\s+');
    if v_expr = '' or cardinality(v_fields) <> 5 then
        raise exception 'invalid cron expression "%": expected 5 fields (minute hour day-of-month month '
            'day-of-week), got %', _cron_parse.cron, case when v_expr = '' then 0 else cardinality(v_fields) end;
    end if;
    if v_fields[1] ~ '[?]' or v_fields[2] ~ '[?]' or v_fields[4] ~ '[?]' then
        raise exception 'invalid cron expression "%": "?" is only allowed in the day-of-month and day-of-week '
            'fields', _cron_parse.cron;
    end if;
    v_fields[3] := case when v_fields[3] = '?' then '*' else v_fields[3] end;
    v_fields[5] := case when v_fields[5] = '?' then '*' else v_fields[5] end;

    minutes := pgflow._cron_field(_cron_parse.cron, 'minute', v_fields[1], 0, 59);
    hours := pgflow._cron_field(_cron_parse.cron, 'hour', v_fields[2], 0, 23);
    days := pgflow._cron_field(_cron_parse.cron, 'day-of-month', v_fields[3], 1, 31);
    months := pgflow._cron_field(
        _cron_parse.cron, 'month', v_fields[4], 1, 12,
        array['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
    );
    weekdays := pgflow._cron_field(
        _cron_parse.cron, 'day-of-week', v_fields[5], 0, 7, array['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
    );
    -- 7 is Sunday too
    weekdays := array(select distinct w % 7 from unnest(weekdays) as w order by 1);

    v_dom_star := v_fields[3] = '*' or (cardinality(days) = 31 and strpos(v_fields[5], '*') > 0);
    v_dow_star := v_fields[5] = '*' or (cardinality(weekdays) = 7 and strpos(v_fields[3], '*') > 0);
    day_or := not v_dom_star and not v_dow_star;
end;
$$;
