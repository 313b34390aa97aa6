-- pgflow.run_trace_contexts: one W3C traceparent per run, checked, and deleted with its run.
begin;
select plan(6);

select pgflow.create_flow('rtc_flow');
select pgflow.add_step('rtc_flow', 'only');
select pgflow.start_flow('rtc_flow', '{}'::jsonb, '00000000-0000-0000-0000-0000000000a1'::uuid);

select col_is_pk('pgflow', 'run_trace_contexts', 'run_id', 'run_trace_contexts is keyed by run_id');
select fk_ok('pgflow', 'run_trace_contexts', 'run_id', 'pgflow', 'runs', 'run_id',
             'run_trace_contexts.run_id references runs');

select lives_ok(
    $$insert into pgflow.run_trace_contexts (run_id, traceparent)
      values ('00000000-0000-0000-0000-0000000000a1', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')$$,
    'a W3C traceparent is stored for a run'
);
select throws_ok(
    $$insert into pgflow.run_trace_contexts (run_id, traceparent)
      values ('00000000-0000-0000-0000-0000000000a1', 'not a traceparent')$$,
    '23514', null, 'a malformed traceparent is refused (traceparent_is_w3c)'
);
select throws_ok(
    $$insert into pgflow.run_trace_contexts (run_id, traceparent)
      values ('00000000-0000-0000-0000-0000000000ff', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')$$,
    '23503', null, 'a trace context needs its run'
);

delete from pgflow.step_tasks where run_id = '00000000-0000-0000-0000-0000000000a1';
delete from pgflow.step_states where run_id = '00000000-0000-0000-0000-0000000000a1';
delete from pgflow.runs where run_id = '00000000-0000-0000-0000-0000000000a1';
select is(
    (select count(*)::int from pgflow.run_trace_contexts),
    0,
    'deleting the run deletes its trace context'
);

select * from finish();
rollback;
