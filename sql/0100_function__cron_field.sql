-- pgflow._cron_field(cron, field_name, field, lo, hi, names): the sorted, distinct values one field
-- of a 5-field cron expression stands for. Internal: called by _cron_parse only.
-- A field is a comma-separated list of elements; an element is `*`, a value, a range `a-b`, each
-- optionally followed by a step `/n`; `a/n` means `a-hi/n` (`a-6/n` for day-of-week). Values are numbers or, where `names`
-- is given, names (case-insensitive; names[1] stands for lo). A range whose start is after its end
-- wraps around (`fri-mon`, `50-10`), as croniter reads it.
-- Locks nothing. Raises `invalid cron expression "<cron>": <field_name> field "<field>": <why>`
-- for an empty element, an unknown name, a value out of lo-hi or a zero step.
create or replace function pgflow._cron_field(
    cron text,
    field_name text,
    field text,
    lo int,
    hi int,
    names text[] default null
)
returns int[]
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_element text;
    v_parts text[];
    v_range text;
    v_step int;
    v_start int;
    v_end int;
    v_values int[] := '{}'::int[];
    v_token text;
    v_bound int;
    v_error text := format(
        'invalid cron expression "%s": %s field "%s"', _cron_field.cron, _cron_field.field_name, _cron_field.field
    );
begin
    foreach v_element in array string_to_array(_cron_field.field, ',') loop
        v_parts := regexp_match(v_element, '^([^/]+)(?:/([0-9]+))?$');
        if v_parts is null then
            raise exception '%: "%" is not a value, a range or a step', v_error, v_element;
        end if;
        v_range := v_parts[1];
        v_step := coalesce(v_parts[2]::int, 1);
        if v_step = 0 then
            raise exception '%: a step must be at least 1', v_error;
        end if;

        if v_range = '*' then
            v_start := _cron_field.lo;
            v_end := _cron_field.hi;
        else
            -- each bound: a number or a name
            v_start := null;
            v_end := null;
            foreach v_token in array string_to_array(v_range, '-') loop
                if v_token ~ '^[0-9]{1,4}$' then
                    v_bound := v_token::int;
                elsif _cron_field.names is not null and lower(v_token) = any(_cron_field.names) then
                    v_bound := _cron_field.lo - 1 + array_position(_cron_field.names, lower(v_token));
                else
                    raise exception '%: "%" is not a number%', v_error, v_token,
                        case when _cron_field.names is not null then ' or a name' else '' end;
                end if;
                if v_bound < _cron_field.lo or v_bound > _cron_field.hi then
                    raise exception '%: % is out of range %-%', v_error, v_bound, _cron_field.lo, _cron_field.hi;
                end if;
                if v_start is null then
                    v_start := v_bound;
                elsif v_end is null then
                    v_end := v_bound;
                else
                    raise exception '%: "%" has more than two bounds', v_error, v_range;
                end if;
            end loop;
            if v_start is null then
                raise exception '%: an element is empty', v_error;
            end if;
            -- `a/n` runs to the field's maximum (6 for day-of-week, where 7 is a second Sunday, as
            -- croniter reads it); a single value is a range of one
            v_end := coalesce(v_end, case
                when v_parts[2] is null then v_start
                when _cron_field.field_name = 'day-of-week' then least(_cron_field.hi, 6)
                else _cron_field.hi
            end);
        end if;

        if v_start <= v_end then
            v_values := v_values || array(select g from generate_series(v_start, v_end, v_step) as g);
        else
            -- a wrapping range walks past hi back to lo
            v_values := v_values || array(
                select _cron_field.lo + (g - _cron_field.lo) % (_cron_field.hi - _cron_field.lo + 1)
                from generate_series(v_start, v_end + _cron_field.hi - _cron_field.lo + 1, v_step) as g
            );
        end if;
    end loop;

    return array(select distinct v from unnest(v_values) as v order by v);
end;
$$;
