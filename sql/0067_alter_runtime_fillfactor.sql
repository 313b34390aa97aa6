-- Storage (beside the contract; no column, constraint or index changes): runs, step_states and
-- step_tasks keep 15% of each heap page free for the new versions of the rows already on it.
-- Why: every run, step state and task is written a few times (status changes), and VACUUM leaves
-- a hole the size of a dead version on each page it cleans. At fillfactor 100 the free-space map
-- sends new rows into those holes, so with a long history each start_flow and each completion
-- lands on a different old page: a buffer to read and an 8 kB full-page image in the WAL after
-- every checkpoint (measured with 1,000,000 finished tasks: one such page per start_flow, ~10 kB of
-- WAL per call instead of ~2 kB; bench/costs.py --history). With pages kept 15% free an insert
-- takes only a page with its size plus the reserve free, which the hole of one dead version is
-- not: new rows go to the table's end, next to the other recent ones, and a row's later versions
-- stay on its own page where there is room.
alter table pgflow.runs set (fillfactor = 85);
alter table pgflow.step_states set (fillfactor = 85);
alter table pgflow.step_tasks set (fillfactor = 85);
