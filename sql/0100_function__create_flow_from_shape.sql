-- pgflow._create_flow_from_shape(p_flow_slug, p_shape): defines a flow from a worker's flow
-- shape (see _get_flow_shape), as the compiled DSL would: create_flow with shape.options
-- (maxAttempts, baseDelay, timeout; absent = NULL = create_flow's defaults), then add_step for
-- each element of shape.steps in array order (dependencies, step options maxAttempts/baseDelay/
-- timeout/startDelay, stepType (absent = single), whenUnmet (absent = skip), whenExhausted
-- (absent = fail), and a pattern's value only when it is {"defined": true, ...}).
-- Called by ensure_flow_compiled, under its advisory lock.
-- Locks: what create_flow and add_step lock (the flows row). Raises what they raise.
create or replace function pgflow._create_flow_from_shape(p_flow_slug text, p_shape jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_options jsonb := coalesce(_create_flow_from_shape.p_shape -> 'options', '{}'::jsonb);
    v_step jsonb;
begin
    perform pgflow.create_flow(
        flow_slug => _create_flow_from_shape.p_flow_slug,
        max_attempts => (v_options ->> 'maxAttempts')::int,
        base_delay => (v_options ->> 'baseDelay')::int,
        timeout => (v_options ->> 'timeout')::int
    );

    -- one add_step per step, in order: each step's dependencies must exist before it (FK)
    for v_step in
        select e.step
        from jsonb_array_elements(coalesce(_create_flow_from_shape.p_shape -> 'steps', '[]'::jsonb))
            with ordinality as e (step, ord)
        order by e.ord
    loop
        perform pgflow.add_step(
            flow_slug => _create_flow_from_shape.p_flow_slug,
            step_slug => v_step ->> 'slug',
            deps_slugs => array(
                select d.dep
                from jsonb_array_elements_text(coalesce(v_step -> 'dependencies', '[]'::jsonb))
                    with ordinality as d (dep, ord)
                order by d.ord
            ),
            max_attempts => (v_step -> 'options' ->> 'maxAttempts')::int,
            base_delay => (v_step -> 'options' ->> 'baseDelay')::int,
            timeout => (v_step -> 'options' ->> 'timeout')::int,
            start_delay => (v_step -> 'options' ->> 'startDelay')::int,
            step_type => coalesce(v_step ->> 'stepType', 'single'),
            required_input_pattern => case
                when v_step -> 'requiredInputPattern' -> 'defined' = 'true'::jsonb
                    then v_step -> 'requiredInputPattern' -> 'value'
            end,
            forbidden_input_pattern => case
                when v_step -> 'forbiddenInputPattern' -> 'defined' = 'true'::jsonb
                    then v_step -> 'forbiddenInputPattern' -> 'value'
            end,
            when_unmet => coalesce(v_step ->> 'whenUnmet', 'skip'),
            when_exhausted => coalesce(v_step ->> 'whenExhausted', 'fail')
        );
    end loop;
end;
$$;
