-- Schedules: a flow started on a cron expression, in a time zone, by tick_schedules.
-- Written by create_schedule / update_schedule / pause_schedule / resume_schedule /
-- delete_schedule; advanced by tick_schedules, which claims due rows in
-- next_scheduled_start_time order (idx_schedules_due) with FOR UPDATE SKIP LOCKED.
--   * overlap_policy: `allow` starts every due time; `skip` starts nothing (and drops the due
--     time) while a run of this schedule is still `started`.
--   * catchup_policy, after downtime (several due times passed since the last tick): `latest`
--     starts only the most recent one; `all` starts every one no older than catchup_window,
--     oldest first.
--   * next_scheduled_start_time: the next time to start; last_run_id / last_scheduled_for: the
--     last run started and the time it was scheduled for.
-- The flow foreign key is checked at commit, so that ensure_flow_compiled can delete and
-- recreate a changed flow in one transaction; deleting a flow for good while a schedule names it
-- fails (delete the schedule first).
create table pgflow.schedules (
    schedule_slug text not null,
    flow_slug text not null,
    cron text not null,
    timezone text not null default 'UTC',
    input jsonb not null default '{}',
    enabled boolean not null default true,
    overlap_policy text not null default 'allow',
    catchup_policy text not null default 'latest',
    catchup_window interval not null default '1 day',
    next_scheduled_start_time timestamptz not null,
    last_run_id uuid,
    last_scheduled_for timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint schedules_pkey primary key (schedule_slug),
    constraint schedules_flow_slug_fkey foreign key (flow_slug) references pgflow.flows (flow_slug)
    deferrable initially deferred,
    constraint schedule_slug_is_valid check (pgflow.is_valid_slug(schedule_slug)),
    constraint cron_is_not_blank check (btrim(cron) <> ''),
    constraint input_is_object check (jsonb_typeof(input) = 'object'),
    constraint overlap_policy_is_valid check (overlap_policy in ('allow', 'skip')),
    constraint catchup_policy_is_valid check (catchup_policy in ('latest', 'all')),
    constraint catchup_window_is_positive check (catchup_window > interval '0'),
    constraint last_run_id_and_last_scheduled_for_match check ((last_run_id is null) = (last_scheduled_for is null)),
    constraint updated_at_is_after_created_at check (updated_at >= created_at)
);

create index idx_schedules_due on pgflow.schedules (next_scheduled_start_time) where enabled;
create index idx_schedules_flow_slug on pgflow.schedules (flow_slug);
