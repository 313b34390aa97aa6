-- cancel_run on runs that are not started returns them unchanged; an unknown run raises an error
-- that names it; only the cancelled run's messages go.
begin;
select plan(8);

select pgflow.create_flow('rc_cancel2', max_attempts => 1);
select pgflow.add_step('rc_cancel2', 'only');
select r.run_id as done_id from pgflow.start_flow('rc_cancel2', '{}') as r \gset
select pgflow_tests.rc_run_step(:'done_id', 'only', '"ok"');
select r.run_id as failed_id from pgflow.start_flow('rc_cancel2', '{}') as r \gset
select pgflow_tests.rc_start_all(:'failed_id');
select pgflow.fail_task(:'failed_id', 'only', 0, 'boom');
select r.run_id as other_id from pgflow.start_flow('rc_cancel2', '{}') as r \gset
select r.run_id as victim_id from pgflow.start_flow('rc_cancel2', '{}') as r \gset

select pgflow_tests.rctl_snapshot(:'done_id') as done_snap \gset
select pgflow_tests.rctl_snapshot(:'failed_id') as failed_snap \gset
select pgflow_tests.rctl_snapshot(:'other_id') as other_snap \gset

select is((pgflow.cancel_run(:'done_id')).status, 'completed', 'a completed run is returned as it is');
select is(pgflow_tests.rctl_snapshot(:'done_id'), :'done_snap'::jsonb, '... and nothing of it changed');
select is((pgflow.cancel_run(:'failed_id')).status, 'failed', 'a failed run is returned as it is');
select is(pgflow_tests.rctl_snapshot(:'failed_id'), :'failed_snap'::jsonb, '... and nothing of it changed');

select is((pgflow.cancel_run(:'victim_id')).status, 'cancelled', 'a started run is cancelled');
select pgflow_tests.rctl_snapshot(:'victim_id') as victim_snap \gset
select is(pgflow.cancel_run(:'victim_id'), (select r from pgflow.runs as r where r.run_id = :'victim_id'),
    'cancelling it again returns it unchanged');
select is(pgflow_tests.rctl_snapshot(:'other_id'), :'other_snap'::jsonb, 'another started run of the flow is untouched');

select throws_ok(
    $$select pgflow.cancel_run('00000000-0000-0000-0000-00000000dead')$$,
    'P0002',
    'Run 00000000-0000-0000-0000-00000000dead not found',
    'an unknown run raises an error naming it'
);

select * from finish();
rollback;
