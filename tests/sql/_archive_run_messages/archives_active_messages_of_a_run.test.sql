begin;
select plan(6);
set local track_functions = 'pl';

select pgflow.create_flow('rc_arm');
select pgflow.add_step('rc_arm', 'm', step_type => 'map');
select pgflow.add_step('rc_arm', 's');

select run_id as run from pgflow.start_flow('rc_arm', '[1,2,3]') \gset
select run_id as other from pgflow.start_flow('rc_arm', '[1]') \gset
select pgflow_tests.rc_start_all(:'run');
-- one task of the run completed (its message already archived), one queued again
select pgflow.complete_task(:'run', 'm', 0, '0');
update pgflow.step_tasks set status = 'queued', started_at = null where run_id = :'run' and step_slug = 'm' and task_index = 1;

select is(pgflow._archive_run_messages(:'run'), 3, 'archives the queued and started tasks'' messages (m1, m2, s)');
select is(
    (select calls::int from pg_stat_xact_user_functions where funcid = 'pgmq.archive(text, bigint[])'::regprocedure),
    1, 'in one pgmq.archive(queue, bigint[]) call'
);
select is(
    (select count(*)::int from pgmq.q_rc_arm as q join pgflow.step_tasks as st on st.message_id = q.msg_id
     where st.run_id = :'run'),
    0, 'no message of the run left in the queue'
);
select is(
    (select count(*)::int from pgmq.q_rc_arm as q join pgflow.step_tasks as st on st.message_id = q.msg_id
     where st.run_id = :'other'),
    2, 'other runs untouched'
);
select results_eq(
    $$ select step_slug, task_index, status from pgflow.step_tasks
       where run_id = (select run_id from pgflow.runs where input = '[1,2,3]' and flow_slug = 'rc_arm')
       order by step_slug, task_index $$,
    $$ values ('m'::text, 0, 'completed'::text), ('m', 1, 'queued'), ('m', 2, 'started'), ('s', 0, 'started') $$,
    'task statuses are not touched'
);
select is(pgflow._archive_run_messages(gen_random_uuid()), 0, 'unknown run: 0');

select * from finish();
rollback;
