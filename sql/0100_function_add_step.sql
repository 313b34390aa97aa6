-- pgflow.add_step(...): appends a step (a DAG node) and its dependencies (edges) to a flow.
-- Called by users, compiled DSL output and _create_flow_from_shape.
-- Steps must be added in topological order: every dependency must already exist (FK).
-- Idempotent: re-adding an existing step returns the existing row untouched (options and
-- deps_count are not updated) and inserts only dependency rows it did not have, as pgflow does;
-- an edge that would close a cycle (a descendant of the step as its dependency) is refused.
-- Locks: the flows row (FOR UPDATE) so that concurrent add_step calls get distinct step_index.
-- Raises: `Adding dependencies [...] to step "<s>" of flow "<f>" would create a cycle`; `Map step "<s>" can have at most one dependency, ...`;
-- `null value in column "dep_slug" of relation "deps" violates not-null constraint` (a NULL in deps_slugs); constraint violations named in
-- the contract (steps_flow_slug_fkey, deps_flow_slug_dep_slug_fkey, deps_check,
-- steps_step_slug_check, steps_step_type_check, when_unmet_is_valid, ...).
create or replace function pgflow.add_step(
    flow_slug text,
    step_slug text,
    deps_slugs text[] default '{}',
    max_attempts int default null,
    base_delay int default null,
    timeout int default null,
    start_delay int default null,
    step_type text default 'single',
    required_input_pattern jsonb default null,
    forbidden_input_pattern jsonb default null,
    when_unmet text default 'skip',
    when_exhausted text default 'fail'
)
returns pgflow.steps
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_step_type text := coalesce(add_step.step_type, 'single');
    v_deps text[];
    v_existing_deps text[];
    v_step pgflow.steps;
begin
    -- GUARD: a map step takes one dependency, counted as given (the same slug twice is two)
    if v_step_type = 'map' and coalesce(cardinality(add_step.deps_slugs), 0) > 1 then
        raise exception 'Map step "%" can have at most one dependency, but % were provided: %',
            add_step.step_slug, cardinality(add_step.deps_slugs), array_to_string(add_step.deps_slugs, ', ');
    end if;

    -- GUARD: no NULL dependency (what the deps insert would raise; raised before anything is written)
    if array_position(add_step.deps_slugs, null) is not null then
        raise exception 'null value in column "dep_slug" of relation "deps" violates not-null constraint'
            using
                errcode = 'not_null_violation',
                schema = 'pgflow',
                table = 'deps',
                column = 'dep_slug',
                hint = 'deps_slugs must not contain NULL.';
    end if;

    -- Distinct dependency slugs, in the order given: a slug given twice is one edge and counts
    -- once in deps_count (pgflow counts it twice, and that step could never start)
    select coalesce(array_agg(d.slug order by d.ord), '{}')
    into v_deps
    from (
        select u.slug, min(u.ord) as ord
        from unnest(add_step.deps_slugs) with ordinality as u (slug, ord)
        group by u.slug
    ) as d;

    -- LOCKS: serialize step_index allocation per flow (no row: the insert raises the FK error)
    perform 1 from pgflow.flows as f where f.flow_slug = add_step.flow_slug for update;

    select * into v_step
    from pgflow.steps as s
    where s.flow_slug = add_step.flow_slug and s.step_slug = add_step.step_slug;

    if v_step.step_slug is not null then
        -- pgflow inserts new edges of an existing step and leaves the row (and deps_count) as it was;
        -- we do the same, but refuse an edge that would close a cycle (a descendant as dependency).
        select array_agg(d.slug order by d.slug) into v_existing_deps
        from unnest(v_deps) as d (slug)
        where d.slug in (
            with recursive descendants (slug) as (
                select dd.step_slug from pgflow.deps as dd
                where dd.flow_slug = add_step.flow_slug and dd.dep_slug = add_step.step_slug
                union
                select dd.step_slug from pgflow.deps as dd
                join descendants as x on dd.dep_slug = x.slug
                where dd.flow_slug = add_step.flow_slug
            )
            select x.slug from descendants as x
        );
        if v_existing_deps is not null then
            raise exception 'Adding dependencies [%] to step "%" of flow "%" would create a cycle',
                array_to_string(v_existing_deps, ', '), add_step.step_slug, add_step.flow_slug
                using hint = 'Steps are added in topological order: a step may only depend on steps added before it.';
        end if;

        insert into pgflow.deps (flow_slug, dep_slug, step_slug)
        select add_step.flow_slug, d.slug, add_step.step_slug
        from unnest(v_deps) as d (slug)
        on conflict on constraint deps_pkey do nothing;
        return v_step;
    end if;

    -- MAIN: the node, then its edges (the node first, so a self-dependency hits deps_check)
    insert into pgflow.steps as s (
        flow_slug, step_slug, step_type, step_index, deps_count,
        opt_max_attempts, opt_base_delay, opt_timeout, opt_start_delay,
        required_input_pattern, forbidden_input_pattern, when_unmet, when_exhausted
    )
    values (
        add_step.flow_slug,
        add_step.step_slug,
        v_step_type,
        coalesce(
            (select max(s2.step_index) + 1 from pgflow.steps as s2 where s2.flow_slug = add_step.flow_slug), 0
        ),
        cardinality(v_deps),
        add_step.max_attempts,
        add_step.base_delay,
        add_step.timeout,
        add_step.start_delay,
        add_step.required_input_pattern,
        add_step.forbidden_input_pattern,
        add_step.when_unmet,
        add_step.when_exhausted
    )
    returning * into v_step;

    insert into pgflow.deps (flow_slug, dep_slug, step_slug)
    select add_step.flow_slug, d.slug, add_step.step_slug
    from unnest(v_deps) as d (slug)
    on conflict on constraint deps_pkey do nothing;

    return v_step;
end;
$$;
