-- prune_runs deletes finished runs (completed, failed, cancelled) older than the cut, oldest first
-- and at most max_runs per call, with their step states, tasks, archived messages, idempotency
-- keys and the retry links to them; a started run (however old) and a recent finished run stay
-- intact with their messages.
begin;
select plan(20);

select pgflow.create_flow('rc_prune', max_attempts => 1);
select pgflow.add_step('rc_prune', 'a');
select pgflow.add_step('rc_prune', 'b', deps_slugs => array['a']);
select pgflow.create_flow('rc_prune_other');
select pgflow.add_step('rc_prune_other', 'only', step_type => 'map');

-- A completed, B failed (and retried: F), C cancelled (started with a key), G completed in
-- another flow, D started long ago (a started task and a queued message), E completed just now
select r.run_id as a_id from pgflow.start_flow('rc_prune', '{"r": "a"}') as r \gset
select pgflow_tests.rc_run_step(:'a_id', 'a', '1'), pgflow_tests.rc_run_step(:'a_id', 'b', '2');
select r.run_id as b_id from pgflow.start_flow('rc_prune', '{"r": "b"}') as r \gset
select pgflow_tests.rc_run_step(:'b_id', 'a', '1');
select pgflow_tests.rc_start_all(:'b_id');
select pgflow.fail_task(:'b_id', 'b', 0, 'boom');
select r.run_id as f_id from pgflow.retry_run(:'b_id') as r \gset
select r.run_id as c_id from pgflow.start_flow_idempotent('rc_prune', '{"r": "c"}', 'key-c') as r \gset
select pgflow.cancel_run(:'c_id');
select r.run_id as g_id from pgflow.start_flow('rc_prune_other', '[1, 2, 3]') as r \gset
select pgflow_tests.rc_run_step(:'g_id', 'only', '0');
select r.run_id as d_id from pgflow.start_flow('rc_prune', '{"r": "d"}') as r \gset
select pgflow_tests.rc_run_step(:'d_id', 'a', '1');
select r.run_id as e_id from pgflow.start_flow('rc_prune', '{"r": "e"}') as r \gset
select pgflow_tests.rc_run_step(:'e_id', 'a', '1'), pgflow_tests.rc_run_step(:'e_id', 'b', '2');

update pgflow.runs set started_at = now() - interval '5 days', completed_at = now() - interval '4 days' where run_id = :'a_id';
update pgflow.runs set started_at = now() - interval '5 days', failed_at = now() - interval '3 days' where run_id = :'b_id';
update pgflow.runs set started_at = now() - interval '5 days', cancelled_at = now() - interval '2 days' where run_id = :'c_id';
update pgflow.runs set started_at = now() - interval '5 days', completed_at = now() - interval '2 days 12 hours' where run_id = :'g_id';
update pgflow.runs set started_at = now() - interval '9 days' where run_id = :'d_id';
select pgflow_tests.rctl_snapshot(:'d_id') as d_snap \gset
select pgflow_tests.rctl_snapshot(:'e_id') as e_snap \gset
select pgflow_tests.rctl_snapshot(:'f_id') as f_snap \gset
select is(pgflow_tests.rctl_task_statuses(:'d_id'), array['completed:1', 'queued:1'], 'D has a queued task');
select is(pgflow_tests.rctl_visible(:'d_id'), 1, 'D has a visible message');
select is(
    (select count(*)::int from pgflow_tests.archived_msg_ids('rc_prune')), 8,
    'archive of rc_prune before: A 2, B 2, C 1, D 1, E 2'
);

-- oldest first, at most max_runs
select is(pgflow.prune_runs(interval '1 day', 2), 2, 'a call with max_runs 2 deletes 2 runs');
select is(
    (select array_agg(r.run_id order by r.run_id) from pgflow.runs as r where r.run_id in (:'a_id', :'b_id')),
    null,
    'the two oldest (A, B) are gone'
);
select is(
    (select r.retry_of_run_id from pgflow.runs as r where r.run_id = :'f_id'), null, 'the retry of B loses its link'
);
select is(pgflow.prune_runs(interval '1 day'), 2, 'the next call deletes the two others (C, G)');
select is(pgflow.prune_runs(interval '1 day'), 0, 'then nothing is left to delete');

select is(
    (select array_agg(r.run_id order by r.run_id) from pgflow.runs as r where r.flow_slug like 'rc\_prune%'),
    (select array_agg(u.id order by u.id) from unnest(array[:'d_id', :'f_id', :'e_id']::uuid []) as u (id)),
    'D (started), E (recent) and F (started) remain'
);
select is(
    (select count(*)::int from pgflow.step_states as ss where ss.run_id in (:'a_id', :'b_id', :'c_id', :'g_id')),
    0,
    'no step state of a deleted run is left'
);
select is(
    (select count(*)::int from pgflow.step_tasks as st where st.run_id in (:'a_id', :'b_id', :'c_id', :'g_id')),
    0,
    'no task of a deleted run is left'
);
select is(
    (select count(*)::int from pgflow.run_idempotency_keys as k where k.run_id = :'c_id'), 0, 'C''s idempotency key is gone'
);
select is(
    (select count(*)::int from pgflow_tests.archived_msg_ids('rc_prune')),
    3,
    'rc_prune''s archive keeps only the messages of D (1) and E (2)'
);
select is(pgflow_tests.rc_archive_count('rc_prune_other'), 0, 'rc_prune_other''s archive is empty');
select is(pgflow_tests.rctl_snapshot(:'d_id'), :'d_snap'::jsonb, 'the started run D is intact, messages included');
select is(pgflow_tests.rctl_snapshot(:'e_id'), :'e_snap'::jsonb, 'the recent run E is intact');
select is(
    pgflow_tests.rctl_snapshot(:'f_id') - 'run', :'f_snap'::jsonb - 'run', 'the retry F is intact but for its link'
);
select is(
    (select count(*)::int from pgflow.start_flow_idempotent('rc_prune', '{"r": "c2"}', 'key-c') as r
     where r.run_id <> :'c_id'),
    1,
    'a pruned key can start a new run'
);

select throws_ok(
    $$select pgflow.prune_runs(interval '-1 day')$$, '22023',
    'older_than must be a non-negative interval (got -1 days)', 'a negative interval is refused'
);
select throws_ok(
    $$select pgflow.prune_runs(interval '1 day', 0)$$, '22023',
    'max_runs must be at least 1 (got 0)', 'max_runs 0 is refused'
);

select * from finish();
rollback;
