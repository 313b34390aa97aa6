-- Schedule runs: which run a schedule started for which scheduled time. One row per schedule and
-- time (schedule_runs_pkey): what makes a schedule start each time exactly once, whatever number
-- of sessions tick it. Written by tick_schedules only.
-- A table of its own rather than columns on pgflow.runs, so that the contract's run documents
-- (get_run_with_states, start_flow_with_states: the runs row as JSON) stay exactly as they are.
-- The scheduled time also travels in the run's input (`"scheduled_for"`, see tick_schedules).
-- Deleting the schedule, or the run (delete_flow_and_data), deletes the link.
create table pgflow.schedule_runs (
    schedule_slug text not null,
    scheduled_for timestamptz not null,
    run_id uuid not null,
    created_at timestamptz not null default now(),
    constraint schedule_runs_pkey primary key (schedule_slug, scheduled_for),
    constraint schedule_runs_run_id_key unique (run_id),
    constraint schedule_runs_schedule_slug_fkey foreign key (schedule_slug)
    references pgflow.schedules (schedule_slug) on delete cascade,
    constraint schedule_runs_run_id_fkey foreign key (run_id) references pgflow.runs (run_id) on delete cascade
);
