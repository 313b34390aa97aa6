-- pgflow._check_schedule(schedule_slug, flow_slug, cron, input, timezone, overlap_policy,
-- catchup_policy, catchup_window): raises the first thing wrong with a schedule's settings, with a
-- message that names it, so that create_schedule/update_schedule write nothing invalid and never
-- surface a bare constraint violation. Internal: called by create_schedule and update_schedule.
-- Locks nothing. Raises `invalid schedule slug ...`, `flow "<slug>" does not exist`,
-- `flow "<slug>" has a root map step: ...`, cron_next's errors for the expression or the zone,
-- `schedule input must be a JSON object ...`, `overlap_policy must be ...`,
-- `catchup_policy must be ...`, `catchup_window must be positive ...`.
create or replace function pgflow._check_schedule(
    schedule_slug text,
    flow_slug text,
    cron text,
    input jsonb,
    timezone text,
    overlap_policy text,
    catchup_policy text,
    catchup_window interval
)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
    if not pgflow.is_valid_slug(_check_schedule.schedule_slug) then
        raise exception 'invalid schedule slug %: use letters, digits and underscores, starting with a letter or '
            'an underscore, at most 128 characters', coalesce('"' || _check_schedule.schedule_slug || '"', 'NULL');
    end if;
    if not exists (select 1 from pgflow.flows as f where f.flow_slug = _check_schedule.flow_slug) then
        raise exception 'flow % does not exist', coalesce('"' || _check_schedule.flow_slug || '"', 'NULL');
    end if;
    if exists (
        select 1
        from pgflow.steps as s
        where s.flow_slug = _check_schedule.flow_slug and s.step_type = 'map' and s.deps_count = 0
    ) then
        raise exception 'flow "%" has a root map step: its input must be an array, but a scheduled run''s input is '
            'a JSON object', _check_schedule.flow_slug;
    end if;
    -- the expression and the zone: cron_next raises naming the bad field or zone
    perform pgflow.cron_next(_check_schedule.cron, now(), _check_schedule.timezone);
    if _check_schedule.input is null or jsonb_typeof(_check_schedule.input) <> 'object' then
        raise exception 'schedule input must be a JSON object (got %): each run gets it with a "scheduled_for" key '
            'added', coalesce(jsonb_typeof(_check_schedule.input), 'NULL');
    end if;
    if _check_schedule.overlap_policy is null or _check_schedule.overlap_policy not in ('allow', 'skip') then
        raise exception 'overlap_policy must be ''allow'' or ''skip'' (got %)',
            coalesce('''' || _check_schedule.overlap_policy || '''', 'NULL');
    end if;
    if _check_schedule.catchup_policy is null or _check_schedule.catchup_policy not in ('latest', 'all') then
        raise exception 'catchup_policy must be ''latest'' or ''all'' (got %)',
            coalesce('''' || _check_schedule.catchup_policy || '''', 'NULL');
    end if;
    if _check_schedule.catchup_window is null or _check_schedule.catchup_window <= interval '0' then
        raise exception 'catchup_window must be positive (got %)', coalesce(_check_schedule.catchup_window::text, 'NULL');
    end if;
end;
$$;
