begin;
select plan(2);

select pgflow.create_flow('rc_poll');
select pgflow.add_step('rc_poll', 'a');
select pgflow.start_flow('rc_poll', '{}');

select is(
    (select count(*)::int from pgflow.poll_for_tasks('rc_poll', 1, 10)), 0,
    'returns no rows even when messages are waiting'
);
select is(
    (select count(*)::int from pgflow.step_tasks as st join pgflow.runs as r using (run_id)
     where r.flow_slug = 'rc_poll' and st.status = 'queued'),
    1, 'and starts nothing'
);

select * from finish();
rollback;
