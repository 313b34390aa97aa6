-- pgflow._compare_flow_shapes(p_local, p_db): the differences between two flow shapes, as
-- human-readable messages ('{}' when they match). Called by ensure_flow_compiled with the
-- worker's shape first and the stored one second.
-- Order: the step count, then per index i = 0..max-1: a missing step, or else slug, type,
-- dependencies, whenUnmet, whenExhausted, requiredInputPattern, forbiddenInputPattern.
-- Semantics (pgflow's, relied on by its TypeScript mirror): slug/stepType/whenUnmet/whenExhausted
-- compare as text with `!=`, so a key missing on either side is NOT a difference; patterns
-- compare as jsonb with IS DISTINCT FROM, so a missing pattern vs {"defined": false} IS one;
-- dependencies compare as each side's sorted list joined by ', '. Options are never compared
-- (they are runtime-tunable in SQL without recompiling).
-- Locks nothing. Raises nothing.
create or replace function pgflow._compare_flow_shapes(p_local jsonb, p_db jsonb)
returns text[]
language plpgsql
stable
set search_path = ''
as $$
declare
    v_local_steps jsonb := coalesce(_compare_flow_shapes.p_local -> 'steps', '[]'::jsonb);
    v_db_steps jsonb := coalesce(_compare_flow_shapes.p_db -> 'steps', '[]'::jsonb);
    v_local_count int;
    v_db_count int;
    v_local jsonb;
    v_db jsonb;
    v_local_deps text;
    v_db_deps text;
    v_differences text [] := '{}'::text [];
begin
    v_local_count := jsonb_array_length(v_local_steps);
    v_db_count := jsonb_array_length(v_db_steps);

    if v_local_count != v_db_count then
        v_differences := v_differences || format('Step count differs: %s vs %s', v_local_count, v_db_count);
    end if;

    for i in 0 .. greatest(v_local_count, v_db_count) - 1 loop
        v_local := v_local_steps -> i;
        v_db := v_db_steps -> i;

        if v_local is null then
            v_differences := v_differences
                || format('Step at index %s: missing in first shape (second has ''%s'')', i, v_db ->> 'slug');
            continue;
        end if;
        if v_db is null then
            v_differences := v_differences
                || format('Step at index %s: missing in second shape (first has ''%s'')', i, v_local ->> 'slug');
            continue;
        end if;

        if v_local ->> 'slug' != v_db ->> 'slug' then
            v_differences := v_differences
                || format('Step at index %s: slug differs ''%s'' vs ''%s''', i, v_local ->> 'slug', v_db ->> 'slug');
        end if;

        if v_local ->> 'stepType' != v_db ->> 'stepType' then
            v_differences := v_differences
                || format(
                    'Step at index %s: type differs ''%s'' vs ''%s''', i, v_local ->> 'stepType', v_db ->> 'stepType'
                );
        end if;

        select coalesce(string_agg(e.dep, ', ' order by e.dep collate "C"), '')
        into v_local_deps
        from jsonb_array_elements_text(coalesce(v_local -> 'dependencies', '[]'::jsonb)) as e (dep);
        select coalesce(string_agg(e.dep, ', ' order by e.dep collate "C"), '')
        into v_db_deps
        from jsonb_array_elements_text(coalesce(v_db -> 'dependencies', '[]'::jsonb)) as e (dep);
        if v_local_deps != v_db_deps then
            v_differences := v_differences
                || format('Step at index %s: dependencies differ [%s] vs [%s]', i, v_local_deps, v_db_deps);
        end if;

        if v_local ->> 'whenUnmet' != v_db ->> 'whenUnmet' then
            v_differences := v_differences
                || format(
                    'Step at index %s: whenUnmet differs ''%s'' vs ''%s''', i, v_local ->> 'whenUnmet', v_db ->> 'whenUnmet'
                );
        end if;

        if v_local ->> 'whenExhausted' != v_db ->> 'whenExhausted' then
            v_differences := v_differences
                || format(
                    'Step at index %s: whenExhausted differs ''%s'' vs ''%s''',
                    i, v_local ->> 'whenExhausted', v_db ->> 'whenExhausted'
                );
        end if;

        if (v_local -> 'requiredInputPattern') is distinct from (v_db -> 'requiredInputPattern') then
            v_differences := v_differences
                || format(
                    'Step at index %s: requiredInputPattern differs ''%s'' vs ''%s''',
                    i, v_local -> 'requiredInputPattern', v_db -> 'requiredInputPattern'
                );
        end if;

        if (v_local -> 'forbiddenInputPattern') is distinct from (v_db -> 'forbiddenInputPattern') then
            v_differences := v_differences
                || format(
                    'Step at index %s: forbiddenInputPattern differs ''%s'' vs ''%s''',
                    i, v_local -> 'forbiddenInputPattern', v_db -> 'forbiddenInputPattern'
                );
        end if;
    end loop;

    return v_differences;
end;
$$;
