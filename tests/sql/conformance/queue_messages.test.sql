-- Conformance (spec §5): one pgmq queue per flow named exactly like the flow slug; one message
-- per task whose body is exactly {"flow_slug","run_id","step_slug","task_index"} (no payload),
-- paired with step_tasks.message_id by task_index; opt_start_delay delays first visibility;
-- retry backoff and the start_tasks visibility (timeout + 2 s) are set on the message; finished
-- tasks' messages are archived, never deleted; delete_flow_and_data drops the queue.
begin;
select plan(26);

select pgflow.create_flow('Conf_Q_Flow', base_delay => 2, timeout => 40);
select pgflow.add_step('Conf_Q_Flow', 'one');
select pgflow.add_step('Conf_Q_Flow', 'many', step_type => 'map');
select pgflow.add_step('Conf_Q_Flow', 'later', array['one'], start_delay => 30);

-- Queue named like the flow ----------------------------------------------------------------------
select ok(
    exists (select 1 from pgmq.list_queues() as q where q.queue_name = 'Conf_Q_Flow'),
    'create_flow creates the pgmq queue named exactly like the flow slug'
);
select ok(to_regclass('pgmq.q_conf_q_flow') is not null, 'its table is pgmq.q_<lower(slug)>');
select lives_ok(
    $$select pgflow.create_flow('Conf_Q_Flow')$$,
    'create_flow on an existing flow (and queue) is idempotent'
);
select is(
    (select count(*)::int from pgmq.list_queues() as q where q.queue_name = 'Conf_Q_Flow'),
    1,
    'still one queue'
);

select pgflow.start_flow('Conf_Q_Flow', '[10, 20, 30]', 'f0000000-0000-0000-0000-000000000001');

-- Message bodies ---------------------------------------------------------------------------------
select is(
    (select count(*)::int from pgflow_tests.conf_queue('Conf_Q_Flow')),
    4,
    'one message per task: 1 for the single root, 3 for the root map over a 3-element input'
);
select is_empty(
    $$select m.msg_id from pgflow_tests.conf_queue('Conf_Q_Flow') as m
      where pgflow_tests.conf_keys(m.message) <> array['flow_slug', 'run_id', 'step_slug', 'task_index']
         or m.message ? 'id'$$,
    'every message body has exactly the keys flow_slug, run_id, step_slug, task_index'
);
select is_empty(
    $$select m.msg_id from pgflow_tests.conf_queue('Conf_Q_Flow') as m
      where jsonb_typeof(m.message -> 'flow_slug') <> 'string' or jsonb_typeof(m.message -> 'run_id') <> 'string'
         or jsonb_typeof(m.message -> 'step_slug') <> 'string' or jsonb_typeof(m.message -> 'task_index') <> 'number'$$,
    'flow_slug, run_id, step_slug are strings; task_index is a number'
);
select set_eq(
    $$select m.message from pgflow_tests.conf_queue('Conf_Q_Flow') as m$$,
    $$values
        ('{"flow_slug": "Conf_Q_Flow", "run_id": "f0000000-0000-0000-0000-000000000001", "step_slug": "one", "task_index": 0}'::jsonb),
        ('{"flow_slug": "Conf_Q_Flow", "run_id": "f0000000-0000-0000-0000-000000000001", "step_slug": "many", "task_index": 0}'),
        ('{"flow_slug": "Conf_Q_Flow", "run_id": "f0000000-0000-0000-0000-000000000001", "step_slug": "many", "task_index": 1}'),
        ('{"flow_slug": "Conf_Q_Flow", "run_id": "f0000000-0000-0000-0000-000000000001", "step_slug": "many", "task_index": 2}')$$,
    'message bodies are exactly {flow_slug, run_id, step_slug, task_index}, no payload data'
);
select is_empty(
    $$select st.task_index from pgflow.step_tasks as st
      left join pgflow_tests.conf_queue('Conf_Q_Flow') as m on m.msg_id = st.message_id
      where st.run_id = 'f0000000-0000-0000-0000-000000000001'
        and (m.msg_id is null or m.message ->> 'step_slug' <> st.step_slug
             or (m.message ->> 'task_index')::int <> st.task_index)$$,
    'step_tasks.message_id points at the message of the same step and task_index'
);
select is(
    (select array_agg(st.task_index order by st.message_id) from pgflow.step_tasks as st
     where st.run_id = 'f0000000-0000-0000-0000-000000000001' and st.step_slug = 'many'),
    array[0, 1, 2],
    'a map step''s messages are sent in task_index order (msg ids ascending)'
);
select is_empty(
    $$select m.msg_id from pgflow_tests.conf_queue('Conf_Q_Flow') as m where m.vt > clock_timestamp()$$,
    'messages of steps without start_delay are visible at once'
);
select is_empty(
    $$select m.msg_id from pgflow_tests.conf_queue('Conf_Q_Flow') as m where m.read_ct <> 0$$,
    'new messages have read_ct 0'
);

-- start_tasks: vt = timeout + 2 s (team decision, spec §13 quirk 1 intent) --------------------------
select is(
    (select count(*)::int from pgflow_tests.read_and_start('Conf_Q_Flow', 5, 10)),
    4,
    'a worker reads and starts all four tasks'
);
select ok(
    (select bool_and(m.vt between clock_timestamp() + interval '41 seconds' and clock_timestamp() + interval '43 seconds')
     from pgflow_tests.conf_queue('Conf_Q_Flow') as m),
    'after start_tasks each message is hidden for the flow timeout (40) + 2 seconds'
);

-- Completion archives; start_delay delays the child's message ------------------------------------
select pgflow.complete_task('f0000000-0000-0000-0000-000000000001', 'one', 0, '{"v": 1}');
select is_empty(
    $$select m.msg_id from pgflow_tests.conf_queue('Conf_Q_Flow') as m
      where m.message ->> 'step_slug' = 'one'$$,
    'a completed task''s message leaves the queue'
);
select is(
    (select count(*)::int from pgmq.a_conf_q_flow as a where a.message ->> 'step_slug' = 'one'),
    1,
    '... into the archive (archived, not deleted)'
);
select is(
    (select m.message from pgflow_tests.conf_queue('Conf_Q_Flow') as m where m.message ->> 'step_slug' = 'later'),
    '{"flow_slug": "Conf_Q_Flow", "run_id": "f0000000-0000-0000-0000-000000000001", "step_slug": "later", "task_index": 0}'::jsonb,
    'a dependent single step''s message body has the same four keys'
);
select ok(
    (select m.vt - m.enqueued_at >= interval '30 seconds' and m.vt - m.enqueued_at < interval '31 seconds'
     from pgflow_tests.conf_queue('Conf_Q_Flow') as m where m.message ->> 'step_slug' = 'later'),
    'opt_start_delay 30 hides the step''s message for 30 seconds'
);

-- Retry backoff on the message -------------------------------------------------------------------
select pgflow.fail_task('f0000000-0000-0000-0000-000000000001', 'many', 1, 'first failure');
select ok(
    (select m.vt between clock_timestamp() + interval '3 seconds' and clock_timestamp() + interval '4 seconds'
     from pgflow_tests.conf_queue('Conf_Q_Flow') as m
     where m.message ->> 'step_slug' = 'many' and (m.message ->> 'task_index')::int = 1),
    'a retried task''s message is hidden for floor(base_delay 2 * 2^1) = 4 seconds'
);
select is(
    (select st.status from pgflow.step_tasks as st
     where st.run_id = 'f0000000-0000-0000-0000-000000000001' and st.step_slug = 'many' and st.task_index = 1),
    'queued',
    'and its task is queued again'
);

-- Run failure archives every active message of the run -------------------------------------------
select pgflow_tests.make_all_visible('Conf_Q_Flow');
select is(
    (select count(*)::int from pgflow_tests.read_and_start('Conf_Q_Flow', 5, 10)),
    2,
    'the retried map task and the delayed child start'
);
select pgflow.fail_task('f0000000-0000-0000-0000-000000000001', 'many', 1, 'second failure');
select pgflow_tests.make_all_visible('Conf_Q_Flow');
select pgflow_tests.read_and_start('Conf_Q_Flow', 5, 10);
select pgflow.fail_task('f0000000-0000-0000-0000-000000000001', 'many', 1, 'third failure');
select is(
    (select r.status from pgflow.runs as r where r.run_id = 'f0000000-0000-0000-0000-000000000001'),
    'failed',
    'attempts exhausted (3): the run fails'
);
select is(
    (select count(*)::int from pgflow_tests.conf_queue('Conf_Q_Flow')),
    0,
    'a failed run leaves no message of its tasks in the queue'
);
select is(
    (select count(*)::int from pgmq.a_conf_q_flow as a),
    5,
    'all five messages of the run are in the archive'
);

-- delete_flow_and_data drops the queue -----------------------------------------------------------
select pgflow.delete_flow_and_data('Conf_Q_Flow');
select ok(
    not exists (select 1 from pgmq.list_queues() as q where q.queue_name = 'Conf_Q_Flow'),
    'delete_flow_and_data drops the flow''s queue'
);
select ok(
    not exists (select 1 from pgflow.flows as f where f.flow_slug = 'Conf_Q_Flow'),
    '... and the flow'
);

select * from finish();
rollback;
