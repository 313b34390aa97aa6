-- pgflow.set_retry_policy(flow_slug, step_slug, retry_jitter, max_retry_delay): opt-in retry delay
-- options beside the contract's exponential formula (which stays the default), for a whole flow
-- (step_slug NULL) or one step (overriding its flow's). Both values are set as given: NULL
-- clears one (no jitter / no cap; for a step: the flow's).
--   retry_jitter: fraction in [0, 1]; a delay d becomes a random value in [d * (1 - j), d].
--   max_retry_delay: seconds, >= 0; a delay is at most this.
-- create_flow / add_step are the contract's and take no such parameters: call this after them
-- (again after a flow is recompiled: its rows are new). Returns nothing.
-- Example: select pgflow.set_retry_policy('greet', retry_jitter => 0.5, max_retry_delay => 300);
-- Called by clients and the pgflow-py DSL compiler.
-- Locks the flows or steps row it updates.
-- Raises `Flow <slug> does not exist`, `Step <slug> does not exist in flow <slug>`,
-- `retry_jitter must be between 0 and 1 (got <x>)`, `max_retry_delay must be >= 0 (got <n>)`.
create or replace function pgflow.set_retry_policy(
    flow_slug text,
    step_slug text default null,
    retry_jitter numeric default null,
    max_retry_delay integer default null
)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    -- GUARD: values, then names
    if set_retry_policy.retry_jitter is not null
        and (set_retry_policy.retry_jitter < 0 or set_retry_policy.retry_jitter > 1) then
        raise exception 'retry_jitter must be between 0 and 1 (got %)', set_retry_policy.retry_jitter
            using errcode = '22023';
    end if;
    if set_retry_policy.max_retry_delay is not null and set_retry_policy.max_retry_delay < 0 then
        raise exception 'max_retry_delay must be >= 0 (got %)', set_retry_policy.max_retry_delay
            using errcode = '22023';
    end if;

    -- MAIN
    if set_retry_policy.step_slug is null then
        update pgflow.flows as f
        set opt_retry_jitter = set_retry_policy.retry_jitter, opt_max_retry_delay = set_retry_policy.max_retry_delay
        where f.flow_slug = set_retry_policy.flow_slug;
        if not found then
            raise exception 'Flow % does not exist', set_retry_policy.flow_slug using errcode = 'P0002';
        end if;
    else
        update pgflow.steps as s
        set opt_retry_jitter = set_retry_policy.retry_jitter, opt_max_retry_delay = set_retry_policy.max_retry_delay
        where s.flow_slug = set_retry_policy.flow_slug and s.step_slug = set_retry_policy.step_slug;
        if not found then
            if not exists (select 1 from pgflow.flows as f where f.flow_slug = set_retry_policy.flow_slug) then
                raise exception 'Flow % does not exist', set_retry_policy.flow_slug using errcode = 'P0002';
            end if;
            raise exception 'Step % does not exist in flow %', set_retry_policy.step_slug, set_retry_policy.flow_slug
                using errcode = 'P0002';
        end if;
    end if;
end;
$$;
