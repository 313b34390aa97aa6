begin;
select plan(3);

select pgflow.create_flow('rc_atm');
select pgflow.add_step('rc_atm', 'm', step_type => 'map');
select run_id as run from pgflow.start_flow('rc_atm', '[1,2]') \gset
select message_id as m1 from pgflow.step_tasks where run_id = :'run' and task_index = 1 \gset

select pgflow._archive_task_message(:'run', 'm', 1);
select is(
    (select array_agg(msg_id) from pgmq.a_rc_atm), array[:m1::bigint], 'only that task''s message is archived'
);
select lives_ok($$ select pgflow._archive_task_message(gen_random_uuid(), 'm', 0) $$, 'unknown task: no-op');
update pgflow.step_tasks set message_id = null where run_id = :'run' and task_index = 0;
select pgflow._archive_task_message(:'run', 'm', 0);
select is((select count(*)::int from pgmq.a_rc_atm), 1, 'NULL message_id: no-op');

select * from finish();
rollback;
