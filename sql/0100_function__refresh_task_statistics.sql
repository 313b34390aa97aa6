-- pgflow._refresh_task_statistics(inserted): analyzes pgflow.step_tasks when `inserted` tasks
-- (just added by the caller's statement) are at least 1,000 and more than the table was last known
-- to hold. Called by start_ready_steps and _start_ready_steps_of_runs after inserting tasks.
-- Why: worker sessions plan their statements from step_tasks' statistics. On a fresh or small
-- table those say "a handful of rows", and plans kept from them crawl once a big map lands
-- (measured: the first 10,000-element map of a new database took 25 s, later ones 4-5 s). Other
-- sessions replan when the caller's transaction commits. It happens only while the table is small
-- next to the map, so a warm database never pays for it. A caller that does not own the table
-- gets PostgreSQL's "skipping" warning and nothing else. Locks nothing beyond ANALYZE's own.
create or replace function pgflow._refresh_task_statistics(inserted int)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
    if _refresh_task_statistics.inserted >= 1000 and _refresh_task_statistics.inserted > (
        select c.reltuples from pg_catalog.pg_class as c where c.oid = 'pgflow.step_tasks'::regclass
    ) then
        analyze pgflow.step_tasks;
    end if;
end;
$$;
