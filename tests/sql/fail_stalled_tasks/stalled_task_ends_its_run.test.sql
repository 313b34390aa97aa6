-- fail_stalled_tasks: a task that stalled past the requeue limit fails as a failure of its step
-- would: when_exhausted 'fail' fails the step and the run with an error that says it stalled 4
-- times; 'skip' skips the step and the run goes on. Attempts left do not matter (the task has no
-- message to retry with).
begin;
select plan(17);

-- stalls a run's only started task four times, as requeue_stalled_tasks sees it
create function pg_temp.stall_four_times(flow text, run uuid) returns void language plpgsql as $$
begin
    for i in 1..4 loop
        perform pgflow_tests.read_and_start(flow, vt => 300, qty => 10);
        perform pgflow_tests.ops_backdate_started(run, 'work', 91);
        perform pgflow.requeue_stalled_tasks();
    end loop;
end;
$$;

-- when_exhausted fail (the default), and attempts left: max_attempts 10
select pgflow.create_flow('fst_fail', max_attempts => 10);
select pgflow.add_step('fst_fail', 'work');
select pgflow.add_step('fst_fail', 'after', array['work']);
select run_id as run from pgflow.start_flow('fst_fail', '{}') \gset
create temp table fst_runs as select :'run'::uuid as run_id, 'fst_fail'::text as flow;
select pg_temp.stall_four_times('fst_fail', :'run');

select is(
    (select row(t.status, t.requeued_count, t.permanently_stalled_at is not null, t.attempts_count)
     from pgflow.step_tasks as t where t.run_id = :'run' and t.step_slug = 'work'),
    row('started'::text, 3, true, 4),
    'setup: the fourth stall left the task started and permanently stalled, 4 attempts of 10'
);
select is(
    (select r.status from pgflow.runs as r where r.run_id = :'run'), 'started',
    'requeue_stalled_tasks alone leaves the run started (the contract''s behaviour)'
);

create temp table fst_out as select * from pgflow.fail_stalled_tasks();
select results_eq(
    $$ select flow_slug, run_id, step_slug, task_index, stalled_count, step_status, run_status from fst_out $$,
    $$ select 'fst_fail'::text, r.run_id, 'work'::text, 0, 4, 'failed'::text, 'failed'::text
       from fst_runs as r where r.flow = 'fst_fail' $$,
    'one row: the task stalled 4 times, its step and run failed'
);
select is(
    (select t.error_message from pgflow.step_tasks as t where t.run_id = :'run' and t.step_slug = 'work'),
    'Task stalled 4 times (requeued 3 times, the limit): each time its worker stopped reporting '
    'before the task''s timeout + 30 s or its heartbeat stopped',
    'the task''s error says it stalled 4 times'
);
select is(
    (select row(t.status, t.failed_at, t.attempts_count) from pgflow.step_tasks as t
     where t.run_id = :'run' and t.step_slug = 'work'),
    row('failed'::text, now(), 4),
    'the task is failed, not retried although attempts were left'
);
select is(
    (select row(ss.status, ss.error_message like 'Task stalled 4 times%') from pgflow.step_states as ss
     where ss.run_id = :'run' and ss.step_slug = 'work'),
    row('failed'::text, true),
    'its step failed with that error'
);
select is(
    (select row(r.status, r.failed_at) from pgflow.runs as r where r.run_id = :'run'),
    row('failed'::text, now()),
    'and its run failed'
);
select is(
    (select array_agg(e.event order by e.ord) from (
        select m.event, row_number() over () as ord from pgflow_tests.run_events(:'run') as m
     ) as e where e.event in ('step:work:failed', 'run:failed')),
    array['step:work:failed', 'run:failed'],
    'events as fail_task emits them: step:work:failed, then run:failed'
);
select is(
    (select t.status from pgflow.step_tasks as t where t.run_id = :'run' and t.step_slug = 'after'), null,
    'the dependent step never started'
);
select is_empty($$ select * from pgflow.fail_stalled_tasks() $$, 'a second call finds nothing');

-- a late report from the task's last worker changes nothing
select is(
    (select t.status from pgflow.complete_task(:'run', 'work', 0, '{"late": true}') as t), 'failed',
    'a late complete_task of the failed task is ignored'
);

-- when_exhausted skip: the step is skipped, its dependent runs, the run completes
select pgflow.create_flow('fst_skip');
select pgflow.add_step('fst_skip', 'work', when_exhausted => 'skip');
select pgflow.add_step('fst_skip', 'after', array['work']);
select run_id as run_skip from pgflow.start_flow('fst_skip', '{}') \gset
insert into fst_runs values (:'run_skip', 'fst_skip');
select pg_temp.stall_four_times('fst_skip', :'run_skip');
select results_eq(
    $$ select step_slug, stalled_count, step_status, run_status from pgflow.fail_stalled_tasks() $$,
    $$ values ('work'::text, 4, 'skipped'::text, 'started'::text) $$,
    'when_exhausted skip: the step is skipped and the run goes on'
);
select is(
    (select row(ss.skip_reason, ss.error_message like 'Task stalled 4 times%') from pgflow.step_states as ss
     where ss.run_id = :'run_skip' and ss.step_slug = 'work'),
    row('handler_failed'::text, true),
    'skipped as a handler failure, with the stall error kept'
);
select is(
    (select count(*)::int from pgflow_tests.read_and_start('fst_skip', vt => 300, qty => 10) as t where t.step_slug = 'after'),
    1, 'the dependent step started and its task is handed out'
);
select pgflow.complete_task(:'run_skip', 'after', 0, '"done"');
select is(
    (select row(r.status, r.output) from pgflow.runs as r where r.run_id = :'run_skip'),
    row('completed'::text, '{"after": "done"}'::jsonb),
    'and the run completes'
);

-- a permanently stalled task whose run failed meanwhile is not the run's problem any more
select pgflow.create_flow('fst_gone');
select pgflow.add_step('fst_gone', 'work');
select run_id as run_gone from pgflow.start_flow('fst_gone', '{}') \gset
select pg_temp.stall_four_times('fst_gone', :'run_gone');
update pgflow.runs set status = 'failed', failed_at = now() where run_id = :'run_gone';
select is_empty($$ select * from pgflow.fail_stalled_tasks() $$, 'a stalled task of a failed run is left alone');
select is(
    (select t.status from pgflow.step_tasks as t where t.run_id = :'run_gone'), 'started',
    'and stays as requeue_stalled_tasks left it'
);

select * from finish();
rollback;
