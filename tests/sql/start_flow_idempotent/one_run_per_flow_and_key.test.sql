-- start_flow_idempotent: the first call starts a run; later calls with the same flow and key
-- return it and start nothing; another input with that key raises an error saying so; keys are
-- per flow; an empty key is refused. (Calls racing from many connections:
-- tests/integration/test_run_control_sql.py.)
begin;
select plan(12);

select pgflow.create_flow('rc_idem');
select pgflow.add_step('rc_idem', 'only');
select pgflow.create_flow('rc_idem_other');
select pgflow.add_step('rc_idem_other', 'only');

select r.run_id as run_id from pgflow.start_flow_idempotent('rc_idem', '{"order": 42}', 'order-42') as r \gset
select is(
    (select row(r.status, r.input)::text from pgflow.runs as r where r.run_id = :'run_id'),
    row('started', '{"order": 42}'::jsonb)::text,
    'the first call starts a run'
);
select is(
    (select k.run_id from pgflow.run_idempotency_keys as k where k.flow_slug = 'rc_idem' and k.idempotency_key = 'order-42'),
    :'run_id'::uuid,
    'the key names the run'
);
select is(pgflow_tests.rctl_visible(:'run_id'), 1, 'its task is queued');
select pgflow_tests.rctl_snapshot(:'run_id') as snap \gset

select is(
    (select r.run_id from pgflow.start_flow_idempotent('rc_idem', '{"order": 42}', 'order-42') as r),
    :'run_id'::uuid,
    'a second call returns the same run'
);
select is((select count(*)::int from pgflow.runs as r where r.flow_slug = 'rc_idem'), 1, '... and starts nothing');
select is(pgflow_tests.rctl_snapshot(:'run_id'), :'snap'::jsonb, '... and changes nothing of it');

select pgflow_tests.rc_run_step(:'run_id', 'only', '"done"');
select is(
    (select r.status from pgflow.start_flow_idempotent('rc_idem', '{"order": 42}', 'order-42') as r),
    'completed',
    'a later call returns the run as it is now'
);

select throws_ok(
    $$select pgflow.start_flow_idempotent('rc_idem', '{"order": 43}', 'order-42')$$,
    '22023',
    format('Idempotency key order-42 of flow rc_idem was used with a different input (run %s)', :'run_id'),
    'the same key with another input raises an error saying so'
);
select isnt(
    (select r.run_id from pgflow.start_flow_idempotent('rc_idem_other', '{"order": 42}', 'order-42') as r),
    :'run_id'::uuid,
    'the same key in another flow starts another run'
);
select throws_ok(
    $$select pgflow.start_flow_idempotent('rc_idem', '{}', '')$$,
    '22023',
    'idempotency_key must be a non-empty text',
    'an empty key is refused'
);
select throws_ok(
    $$select pgflow.start_flow_idempotent('rc_idem', '{}', null)$$,
    '22023',
    'idempotency_key must be a non-empty text',
    'a NULL key is refused'
);
select throws_ok(
    $$select pgflow.start_flow_idempotent('rc_no_such_flow', '{}', 'k')$$,
    '23503',
    null,
    'an unknown flow raises (foreign key, as start_flow) and records no key'
);

select * from finish();
rollback;
