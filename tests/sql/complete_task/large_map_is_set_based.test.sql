-- A 10,000-element map starts with one pgmq batch and one insert, and aggregates in order.
begin;
select plan(13);
set local track_functions = 'pl';

select pgflow.create_flow('rc_big');
select pgflow.add_step('rc_big', 'each', step_type => 'map');
select pgflow.add_step('rc_big', 'sum', array['each']);

select run_id as run
from pgflow.start_flow('rc_big', (select jsonb_agg(i order by i) from generate_series(0, 9999) as i)) \gset

select is(
    (select calls::int from pg_stat_xact_user_functions where schemaname = 'pgflow' and funcname = '_send_batch'),
    1, 'one pgmq batch for 10,000 tasks'
);
select is(
    (select calls::int from pg_stat_xact_user_functions where schemaname = 'pgflow' and funcname = '_emit_events'),
    2, 'two events: run:started and step:each:started'
);
select is(
    (select row(initial_tasks, remaining_tasks, status) from pgflow.step_states where run_id = :'run' and step_slug = 'each'),
    row(10000, 10000, 'started'::text), 'initial_tasks and remaining_tasks = 10,000'
);
select is((select count(*)::int from pgflow.step_tasks where run_id = :'run'), 10000, '10,000 tasks');
select is((select count(*)::int from pgmq.q_rc_big), 10000, '10,000 messages in pgmq.q_rc_big');
select is(
    (select count(*)::int from pgflow.step_tasks as st join pgmq.q_rc_big as q on q.msg_id = st.message_id
     where st.run_id = :'run' and (q.message ->> 'task_index')::int = st.task_index
       and q.message = jsonb_build_object('flow_slug', 'rc_big', 'run_id', st.run_id, 'step_slug', 'each',
                                          'task_index', st.task_index)),
    10000, 'every message body names its own task'
);

select count(*) from pgflow_tests.rc_start_all(:'run');
select is(
    (select count(*)::int from pgflow.step_tasks where run_id = :'run' and status = 'started'), 10000,
    'all 10,000 started'
);

-- 9,997 tasks completed straight in the table (a fixture shortcut: 10,000 complete_task calls in
-- one transaction only measure MVCC chains), the last three through complete_task, out of order
update pgflow.step_tasks
set status = 'completed', completed_at = now(), output = to_jsonb(task_index * 2)
where run_id = :'run' and step_slug = 'each' and task_index not in (0, 5000, 9999);
select count(*) from pgmq.archive(
    'rc_big',
    (select array_agg(message_id) from pgflow.step_tasks
     where run_id = :'run' and step_slug = 'each' and status = 'completed')
);
update pgflow.step_states set remaining_tasks = 3 where run_id = :'run' and step_slug = 'each';
select pgflow.complete_task(:'run', 'each', 9999, to_jsonb(9999 * 2));
select pgflow.complete_task(:'run', 'each', 0, to_jsonb(0));
select is(
    (select row(status, remaining_tasks) from pgflow.step_states where run_id = :'run' and step_slug = 'each'),
    row('started'::text, 1), 'one task left'
);
select pgflow.complete_task(:'run', 'each', 5000, to_jsonb(5000 * 2));

select is(
    (select status from pgflow.step_states where run_id = :'run' and step_slug = 'each'), 'completed',
    'the map completed'
);
select is(
    (select output from pgflow.step_states where run_id = :'run' and step_slug = 'each'),
    (select jsonb_agg(i * 2 order by i) from generate_series(0, 9999) as i),
    'output aggregated in task_index order'
);
select is(
    (select count(*)::int from pgflow_tests.run_events(:'run') where event = 'step:each:completed'), 1,
    'step:each:completed emitted once'
);
select is((select count(*)::int from pgmq.q_rc_big), 1, 'only the sum message left in the queue');
select is(
    (select jsonb_array_length(input -> 'each') from pgflow_tests.rc_start_all(:'run')), 10000,
    'the dependent step gets the whole array'
);

select * from finish();
rollback;
