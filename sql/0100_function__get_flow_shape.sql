-- pgflow._get_flow_shape(p_flow_slug): the stored definition of a flow in the JSON shape that
-- workers send to ensure_flow_compiled (the DSL's extractFlowShape), without options:
-- {"steps": [{"slug", "stepType", "dependencies" (sorted), "whenUnmet", "whenExhausted",
-- "requiredInputPattern": {"defined": false} | {"defined": true, "value": <pattern>},
-- "forbiddenInputPattern": ...}, ...]} with steps in step_index order. Unknown flow:
-- {"steps": []}. Called by ensure_flow_compiled.
-- Dependencies sort in byte order (collate "C"), which is the order JavaScript's sort() gives
-- for slugs ([a-zA-Z0-9_] only), so the shape equals the worker's for mixed-case slugs too.
-- Locks nothing. Raises nothing.
create or replace function pgflow._get_flow_shape(p_flow_slug text)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select jsonb_build_object(
        'steps',
        coalesce(
            jsonb_agg(
                jsonb_build_object(
                    'slug', s.step_slug,
                    'stepType', s.step_type,
                    'dependencies', coalesce(
                        (
                            select jsonb_agg(d.dep_slug order by d.dep_slug collate "C")
                            from pgflow.deps as d
                            where d.flow_slug = s.flow_slug and d.step_slug = s.step_slug
                        ),
                        '[]'::jsonb
                    ),
                    'whenUnmet', s.when_unmet,
                    'whenExhausted', s.when_exhausted,
                    'requiredInputPattern', case
                        when s.required_input_pattern is null then '{"defined": false}'::jsonb
                        else jsonb_build_object('defined', true, 'value', s.required_input_pattern)
                    end,
                    'forbiddenInputPattern', case
                        when s.forbidden_input_pattern is null then '{"defined": false}'::jsonb
                        else jsonb_build_object('defined', true, 'value', s.forbidden_input_pattern)
                    end
                )
                order by s.step_index
            ),
            '[]'::jsonb
        )
    )
    from pgflow.steps as s
    where s.flow_slug = _get_flow_shape.p_flow_slug;
$$;
