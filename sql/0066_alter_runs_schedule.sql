-- Runs started by a schedule (tick_schedules) record the schedule and the time the run was
-- scheduled for; NULL for every other run. One run per schedule and scheduled time
-- (runs_schedule_slug_scheduled_for_key): what makes a schedule start each time exactly once,
-- whatever number of sessions tick it. Deleting a schedule keeps its runs: their schedule_slug
-- becomes NULL, scheduled_for stays.
alter table pgflow.runs
add column if not exists schedule_slug text,
add column if not exists scheduled_for timestamptz;

alter table pgflow.runs drop constraint if exists runs_schedule_slug_fkey;
alter table pgflow.runs
add constraint runs_schedule_slug_fkey foreign key (schedule_slug)
references pgflow.schedules (schedule_slug) on delete set null (schedule_slug);

alter table pgflow.runs drop constraint if exists schedule_slug_has_scheduled_for;
alter table pgflow.runs
add constraint schedule_slug_has_scheduled_for check (schedule_slug is null or scheduled_for is not null);

create unique index if not exists runs_schedule_slug_scheduled_for_key
on pgflow.runs (schedule_slug, scheduled_for) where schedule_slug is not null;

-- tick_schedules' overlap check (`skip`): is a run of this schedule still started?
create index if not exists idx_runs_schedule_started on pgflow.runs (schedule_slug)
where status = 'started' and schedule_slug is not null;
