-- pgflow._retry_delay(flow_slug, step_slug, base_delay, attempts_count): seconds before a failed
-- task of that step is retried. Without retry options (steps/flows opt_retry_jitter and
-- opt_max_retry_delay NULL, the default) it is exactly the contract's
-- pgflow.calculate_retry_delay(base_delay, attempts_count). With them (the step's, else the
-- flow's; pgflow.set_retry_policy): d = least(floor(base_delay * 2^attempts_count),
-- max_retry_delay), then with jitter j a random value in [d * (1 - j), d], floored.
-- Called by fail_task. Volatile (random()). Locks nothing. Raises nothing.
-- Planning: one generic plan per statement, index access only (plan_cache_mode, enable_seqscan;
-- docs/ARCHITECTURE.md, "Plans on the task path").
create or replace function pgflow._retry_delay(flow_slug text, step_slug text, base_delay numeric, attempts_count int)
returns int
language plpgsql
volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
declare
    v_jitter numeric;
    v_max int;
    v_delay numeric;
begin
    select coalesce(s.opt_retry_jitter, f.opt_retry_jitter), coalesce(s.opt_max_retry_delay, f.opt_max_retry_delay)
    into v_jitter, v_max
    from pgflow.flows as f
    left join pgflow.steps as s on s.flow_slug = f.flow_slug and s.step_slug = _retry_delay.step_slug
    where f.flow_slug = _retry_delay.flow_slug;

    if v_jitter is null and v_max is null then
        return pgflow.calculate_retry_delay(_retry_delay.base_delay, _retry_delay.attempts_count);
    end if;

    -- the cap is applied in numeric, so a large attempts_count cannot overflow int
    v_delay := floor(_retry_delay.base_delay * power(2::numeric, _retry_delay.attempts_count));
    if v_max is not null then
        v_delay := least(v_delay, v_max);
    end if;
    if v_jitter is not null then
        v_delay := floor(v_delay * (1 - v_jitter * random()::numeric));
    end if;
    return v_delay::int;
end;
$$;
