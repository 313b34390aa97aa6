-- Runtime state: runs (one per start_flow), step_states (one per run and step) and step_tasks
-- (one per unit of work: 1 for a single step, one per element for a map step).

create table pgflow.runs (
    run_id uuid not null default gen_random_uuid(),
    flow_slug text not null,
    status text not null default 'started',
    input jsonb not null,
    output jsonb,
    remaining_steps int not null default 0,
    started_at timestamptz not null default now(),
    completed_at timestamptz,
    failed_at timestamptz,
    constraint runs_pkey primary key (run_id),
    constraint runs_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint status_is_valid check (status in ('started', 'failed', 'completed')),
    constraint runs_remaining_steps_check check (remaining_steps >= 0),
    constraint completed_at_or_failed_at check (not (completed_at is not null and failed_at is not null)),
    constraint completed_at_is_after_started_at check (completed_at is null or completed_at >= started_at),
    constraint failed_at_is_after_started_at check (failed_at is null or failed_at >= started_at)
);

create index idx_runs_flow_slug on pgflow.runs (flow_slug);
create index idx_runs_status on pgflow.runs (status);

create table pgflow.step_states (
    flow_slug text not null,
    run_id uuid not null,
    step_slug text not null,
    status text not null default 'created',
    remaining_tasks int,
    initial_tasks int,
    remaining_deps int not null default 0,
    output jsonb,
    error_message text,
    skip_reason text,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    completed_at timestamptz,
    failed_at timestamptz,
    skipped_at timestamptz,
    constraint step_states_pkey primary key (run_id, step_slug),
    constraint step_states_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint step_states_run_id_fkey foreign key (run_id) references pgflow.runs (run_id),
    constraint step_states_flow_slug_step_slug_fkey foreign key (flow_slug, step_slug)
    references pgflow.steps (flow_slug, step_slug),
    constraint status_is_valid check (status in ('created', 'started', 'completed', 'failed', 'skipped')),
    constraint step_states_initial_tasks_check check (initial_tasks is null or initial_tasks >= 0),
    constraint step_states_remaining_deps_check check (remaining_deps >= 0),
    constraint status_and_remaining_tasks_match check (status <> 'completed' or remaining_tasks = 0),
    constraint remaining_tasks_state_consistency check (
        remaining_tasks is null or status not in ('created', 'skipped')
    ),
    constraint initial_tasks_known_when_started check (status <> 'started' or initial_tasks is not null),
    constraint output_only_for_completed_or_null check (output is null or status = 'completed'),
    constraint skip_reason_matches_status check ((skip_reason is not null) = (status = 'skipped')),
    constraint completed_at_or_failed_at_or_skipped_at check (
        (
            (completed_at is not null)::int + (failed_at is not null)::int + (skipped_at is not null)::int
        ) <= 1
    ),
    constraint started_at_is_after_created_at check (started_at is null or started_at >= created_at),
    constraint completed_at_is_after_started_at check (completed_at is null or completed_at >= started_at),
    constraint failed_at_is_after_started_at check (failed_at is null or failed_at >= started_at),
    constraint skipped_at_is_after_created_at check (skipped_at is null or skipped_at >= created_at)
);

create index idx_step_states_ready on pgflow.step_states (run_id, status, remaining_deps)
where status = 'created' and remaining_deps = 0;
create index idx_step_states_failed on pgflow.step_states (run_id, step_slug) where status = 'failed';
create index idx_step_states_skipped on pgflow.step_states (run_id, step_slug) where status = 'skipped';
create index idx_step_states_flow_slug on pgflow.step_states (flow_slug);
create index idx_step_states_run_id on pgflow.step_states (run_id);

create table pgflow.step_tasks (
    flow_slug text not null,
    run_id uuid not null,
    step_slug text not null,
    message_id bigint,
    task_index int not null default 0,
    status text not null default 'queued',
    attempts_count int not null default 0,
    error_message text,
    output jsonb,
    queued_at timestamptz not null default now(),
    started_at timestamptz,
    completed_at timestamptz,
    failed_at timestamptz,
    last_worker_id uuid,
    requeued_count int not null default 0,
    last_requeued_at timestamptz,
    permanently_stalled_at timestamptz,
    constraint step_tasks_pkey primary key (run_id, step_slug, task_index),
    constraint step_tasks_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug),
    constraint step_tasks_run_id_fkey foreign key (run_id) references pgflow.runs (run_id),
    constraint step_tasks_run_id_step_slug_fkey foreign key (run_id, step_slug)
    references pgflow.step_states (run_id, step_slug),
    constraint step_tasks_last_worker_id_fkey foreign key (last_worker_id)
    references pgflow.workers (worker_id) on delete set null,
    constraint valid_status check (status in ('queued', 'started', 'completed', 'failed')),
    constraint attempts_count_nonnegative check (attempts_count >= 0),
    constraint output_valid_only_for_completed check (output is null or status in ('completed', 'failed')),
    constraint completed_at_or_failed_at check (not (completed_at is not null and failed_at is not null)),
    constraint completed_at_is_after_queued_at check (completed_at is null or completed_at >= queued_at),
    constraint failed_at_is_after_queued_at check (failed_at is null or failed_at >= queued_at),
    constraint started_at_is_after_queued_at check (started_at is null or started_at >= queued_at),
    constraint completed_at_is_after_started_at check (
        completed_at is null or started_at is null or completed_at >= started_at
    ),
    constraint failed_at_is_after_started_at check (
        failed_at is null or started_at is null or failed_at >= started_at
    )
);

create index idx_step_tasks_message_id on pgflow.step_tasks (message_id);
create index idx_step_tasks_queued on pgflow.step_tasks (run_id, step_slug) where status = 'queued';
create index idx_step_tasks_completed on pgflow.step_tasks (run_id, step_slug) where status = 'completed';
create index idx_step_tasks_failed on pgflow.step_tasks (run_id, step_slug) where status = 'failed';
create index idx_step_tasks_flow_run_step on pgflow.step_tasks (flow_slug, run_id, step_slug);
create index idx_step_tasks_started on pgflow.step_tasks (started_at) where status = 'started';
create index idx_step_tasks_queued_msg on pgflow.step_tasks (message_id) where status = 'queued';
create index idx_step_tasks_last_worker on pgflow.step_tasks (last_worker_id) where status = 'started';
