-- Flow definitions: flows, steps (DAG nodes) and deps (DAG edges).
-- Written by create_flow / add_step / ensure_flow_compiled; read by every runtime function.

create table pgflow.flows (
    flow_slug text not null,
    opt_max_attempts int not null default 3,
    opt_base_delay int not null default 1,
    opt_timeout int not null default 60,
    created_at timestamptz not null default now(),
    constraint flows_pkey primary key (flow_slug),
    constraint slug_is_valid check (pgflow.is_valid_slug(flow_slug)),
    constraint opt_max_attempts_is_nonnegative check (opt_max_attempts >= 0),
    constraint opt_base_delay_is_nonnegative check (opt_base_delay >= 0),
    constraint opt_timeout_is_positive check (opt_timeout > 0)
);

create table pgflow.steps (
    flow_slug text not null,
    step_slug text not null,
    step_type text not null default 'single',
    step_index int not null default 0,
    deps_count int not null default 0,
    opt_max_attempts int,
    opt_base_delay int,
    opt_timeout int,
    opt_start_delay int,
    required_input_pattern jsonb,
    forbidden_input_pattern jsonb,
    when_unmet text not null default 'skip',
    when_exhausted text not null default 'fail',
    created_at timestamptz not null default now(),
    constraint steps_pkey primary key (flow_slug, step_slug),
    constraint steps_flow_slug_step_index_key unique (flow_slug, step_index),
    constraint steps_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint steps_step_slug_check check (pgflow.is_valid_slug(step_slug)),
    constraint steps_step_type_check check (step_type in ('single', 'map')),
    constraint steps_deps_count_check check (deps_count >= 0),
    constraint opt_max_attempts_is_nonnegative check (opt_max_attempts is null or opt_max_attempts >= 0),
    constraint opt_base_delay_is_nonnegative check (opt_base_delay is null or opt_base_delay >= 0),
    constraint opt_timeout_is_positive check (opt_timeout is null or opt_timeout > 0),
    constraint opt_start_delay_is_nonnegative check (opt_start_delay is null or opt_start_delay >= 0),
    constraint required_input_pattern_is_object check (
        required_input_pattern is null or jsonb_typeof(required_input_pattern) = 'object'
    ),
    constraint forbidden_input_pattern_is_object check (
        forbidden_input_pattern is null or jsonb_typeof(forbidden_input_pattern) = 'object'
    ),
    constraint when_unmet_is_valid check (when_unmet in ('fail', 'skip', 'skip-cascade')),
    constraint when_exhausted_is_valid check (when_exhausted in ('fail', 'skip', 'skip-cascade'))
);

create table pgflow.deps (
    flow_slug text not null,
    dep_slug text not null,
    step_slug text not null,
    created_at timestamptz not null default now(),
    constraint deps_pkey primary key (flow_slug, dep_slug, step_slug),
    constraint deps_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint deps_flow_slug_dep_slug_fkey foreign key (flow_slug, dep_slug)
    references pgflow.steps (flow_slug, step_slug),
    constraint deps_flow_slug_step_slug_fkey foreign key (flow_slug, step_slug)
    references pgflow.steps (flow_slug, step_slug),
    constraint deps_check check (dep_slug <> step_slug)
);

create index idx_deps_by_flow_step on pgflow.deps (flow_slug, step_slug);
create index idx_deps_by_flow_dep on pgflow.deps (flow_slug, dep_slug);
