-- Conformance (spec §8): the exact error texts and SQLSTATEs callers and tests match on,
-- the texts stored in error_message columns, the slug rule, and the cron helpers' return texts.
begin;
select plan(49);

-- Slug rule (spec §8.1) --------------------------------------------------------------------------
select is(pgflow.is_valid_slug(null), false, 'is_valid_slug(NULL) is false');
select is(pgflow.is_valid_slug(''), false, 'is_valid_slug('''') is false');
select is(pgflow.is_valid_slug('run'), false, 'is_valid_slug(''run'') is false');
select is(pgflow.is_valid_slug('1abc'), false, 'a slug may not start with a digit');
select is(pgflow.is_valid_slug('a-b'), false, 'a slug may not contain a dash');
select is(pgflow.is_valid_slug('_Ab9'), true, '_Ab9 is a valid slug');
select is(pgflow.is_valid_slug(repeat('a', 128)), true, '128 characters is valid');
select is(pgflow.is_valid_slug(repeat('a', 129)), false, '129 characters is not');

-- create_flow / add_step (spec §8.2) -------------------------------------------------------------
select throws_ok(
    $$select pgflow.create_flow('1bad')$$,
    '23514', 'new row for relation "flows" violates check constraint "slug_is_valid"',
    'create_flow with an invalid slug: slug_is_valid'
);
select throws_ok(
    $$select pgflow.add_step('conf_err_nope', 'a')$$,
    '23503', 'insert or update on table "steps" violates foreign key constraint "steps_flow_slug_fkey"',
    'add_step on an unknown flow: steps_flow_slug_fkey'
);
select pgflow.create_flow('conf_err');
select pgflow.add_step('conf_err', 'a');
select pgflow.add_step('conf_err', 'b');
select throws_ok(
    $$select pgflow.add_step('conf_err', 'c', array['ghost'])$$,
    '23503', 'insert or update on table "deps" violates foreign key constraint "deps_flow_slug_dep_slug_fkey"',
    'add_step with an unknown dependency: deps_flow_slug_dep_slug_fkey'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'self', array['self'])$$,
    '23514', 'new row for relation "deps" violates check constraint "deps_check"',
    'add_step depending on itself: deps_check'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'run')$$,
    '23514', 'new row for relation "steps" violates check constraint "steps_step_slug_check"',
    'add_step with an invalid step slug: steps_step_slug_check'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'typed', step_type => 'loop')$$,
    '23514', 'new row for relation "steps" violates check constraint "steps_step_type_check"',
    'add_step with an unknown step_type: steps_step_type_check'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'unmet', when_unmet => 'explode')$$,
    '23514', 'new row for relation "steps" violates check constraint "when_unmet_is_valid"',
    'add_step with a bad when_unmet: when_unmet_is_valid'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'exh', when_exhausted => 'retry')$$,
    '23514', 'new row for relation "steps" violates check constraint "when_exhausted_is_valid"',
    'add_step with a bad when_exhausted: when_exhausted_is_valid'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'req', required_input_pattern => '[1]')$$,
    '23514', 'new row for relation "steps" violates check constraint "required_input_pattern_is_object"',
    'add_step with an array required_input_pattern: required_input_pattern_is_object'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'forb', forbidden_input_pattern => '"x"')$$,
    '23514', 'new row for relation "steps" violates check constraint "forbidden_input_pattern_is_object"',
    'add_step with a string forbidden_input_pattern: forbidden_input_pattern_is_object'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'late', start_delay => -1)$$,
    '23514', 'new row for relation "steps" violates check constraint "opt_start_delay_is_nonnegative"',
    'add_step with a negative start_delay: opt_start_delay_is_nonnegative'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'quick', timeout => 0)$$,
    '23514', 'new row for relation "steps" violates check constraint "opt_timeout_is_positive"',
    'add_step with timeout 0: opt_timeout_is_positive'
);
select throws_ok(
    $$select pgflow.add_step('conf_err', 'm', array['a', 'b'], step_type => 'map')$$,
    'P0001', 'Map step "m" can have at most one dependency, but 2 were provided: a, b',
    'add_step: a map step with two dependencies'
);
select throws_ok(
    $$insert into pgflow.steps (flow_slug, step_slug, step_index) values ('conf_err', 'dup', 0)$$,
    '23505', 'duplicate key value violates unique constraint "steps_flow_slug_step_index_key"',
    'a raw insert reusing a step_index: steps_flow_slug_step_index_key'
);
select lives_ok(
    $$select pgflow.add_step('conf_err', 'm', step_type => null)$$,
    'add_step treats a NULL step_type as single'
);
select is(
    (select s.step_type from pgflow.steps as s where s.flow_slug = 'conf_err' and s.step_slug = 'm'),
    'single',
    '... stored as single'
);

-- start_flow (spec §8.3) -------------------------------------------------------------------------
select pgflow.create_flow('conf_err_map');
select pgflow.add_step('conf_err_map', 'items', step_type => 'map');
select throws_ok(
    $$select pgflow.start_flow('conf_err_map', null)$$,
    'P0001', 'Flow conf_err_map has root map steps but input is NULL',
    'start_flow: root map with SQL NULL input'
);
select throws_ok(
    $$select pgflow.start_flow('conf_err_map', '{"a": 1}')$$,
    'P0001', 'Flow conf_err_map has root map steps but input is not an array (got object)',
    'start_flow: root map with an object input'
);
select throws_ok(
    $$select pgflow.start_flow('conf_err_map', '"s"')$$,
    'P0001', 'Flow conf_err_map has root map steps but input is not an array (got string)',
    'start_flow: root map with a string input'
);
select throws_ok(
    $$select pgflow.start_flow('conf_err_map', '1')$$,
    'P0001', 'Flow conf_err_map has root map steps but input is not an array (got number)',
    'start_flow: root map with a number input'
);
select throws_ok(
    $$select pgflow.start_flow('conf_err_map', 'true')$$,
    'P0001', 'Flow conf_err_map has root map steps but input is not an array (got boolean)',
    'start_flow: root map with a boolean input'
);
select throws_ok(
    $$select pgflow.start_flow('conf_err_map', 'null')$$,
    'P0001', 'Flow conf_err_map has root map steps but input is not an array (got null)',
    'start_flow: root map with a JSON null input'
);
select throws_ok(
    $$select pgflow.start_flow('conf_err_unknown', '{}')$$,
    '23503', 'insert or update on table "runs" violates foreign key constraint "runs_flow_slug_fkey"',
    'start_flow of an unknown flow: runs_flow_slug_fkey'
);
select throws_ok(
    $$select pgflow.start_flow('conf_err', null)$$,
    '23502', 'null value in column "input" of relation "runs" violates not-null constraint',
    'start_flow with NULL input on a flow without root maps: NOT NULL of runs.input'
);

-- Cascade safety limits (spec §8.4) --------------------------------------------------------------
select pgflow.create_flow('conf_err_chain');
select pgflow.add_step('conf_err_chain', 'm' || g.i,
    case when g.i = 1 then '{}'::text[] else array['m' || (g.i - 1)] end, step_type => 'map')
from generate_series(1, 51) as g (i);
select throws_ok(
    $$select pgflow.start_flow('conf_err_chain', '[]')$$,
    'P0001', 'Cascade loop exceeded safety limit of 50 iterations',
    'a chain of 51 empty maps: the taskless cascade raises its safety limit'
);
select pgflow.create_flow('conf_err_conds');
select pgflow.add_step('conf_err_conds', 'c' || g.i,
    case when g.i = 1 then '{}'::text[] else array['c' || (g.i - 1)] end,
    required_input_pattern => '{"go": true}')
from generate_series(1, 60) as g (i);
select throws_ok(
    $$select pgflow.start_flow('conf_err_conds', '{}')$$,
    'P0001', 'cascade_resolve_conditions exceeded safety limit of 50 iterations',
    'a chain of 60 condition skips: cascade_resolve_conditions raises its safety limit'
);
select throws_ok(
    $$select pgflow._cascade_force_skip_steps('00000000-0000-0000-0000-0000000000ff', 'a', 'condition_unmet')$$,
    'P0001', 'Run not found: 00000000-0000-0000-0000-0000000000ff',
    '_cascade_force_skip_steps on an unknown run'
);

-- set_vt_batch (spec §8.5) -----------------------------------------------------------------------
select throws_ok(
    $$select * from pgflow.set_vt_batch('conf_err', array[1, 2]::bigint[], array[0])$$,
    'P0001', 'msg_ids length (2) must equal vt_offsets length (1)',
    'set_vt_batch with arrays of different lengths'
);
select throws_ok(
    $$select * from pgflow.set_vt_batch('conf_err_noqueue', array[1]::bigint[], array[0])$$,
    '42P01', 'relation "pgmq.q_conf_err_noqueue" does not exist',
    'set_vt_batch on an unknown queue: 42P01'
);
select is_empty(
    $$select * from pgflow.set_vt_batch('conf_err', '{}'::bigint[], '{}'::int[])$$,
    'set_vt_batch with empty arrays returns nothing'
);
select is_empty(
    $$select * from pgflow.set_vt_batch('conf_err', null, null)$$,
    'set_vt_batch with NULL arrays returns nothing'
);

-- Texts stored in error_message (spec §8.4, §8.5) ------------------------------------------------
select pgflow.create_flow('conf_err_tv');
select pgflow.add_step('conf_err_tv', 'items');
select pgflow.add_step('conf_err_tv', 'each', array['items'], step_type => 'map');
select pgflow.start_flow('conf_err_tv', '{}', 'd0000000-0000-0000-0000-000000000001');
select pgflow.start_flow('conf_err_tv', '{}', 'd0000000-0000-0000-0000-000000000002');
select pgflow_tests.read_and_start('conf_err_tv', 30, 10);
select pgflow.complete_task('d0000000-0000-0000-0000-000000000001', 'items', 0, '{"k": 1}');
select pgflow.complete_task('d0000000-0000-0000-0000-000000000002', 'items', 0, null);
select is(
    (select st.error_message from pgflow.step_tasks as st
     where st.run_id = 'd0000000-0000-0000-0000-000000000001' and st.step_slug = 'items'),
    '[TYPE_VIOLATION] Produced object instead of array',
    'type violation task error_message (object output)'
);
select is(
    (select ss.error_message from pgflow.step_states as ss
     where ss.run_id = 'd0000000-0000-0000-0000-000000000001' and ss.step_slug = 'items'),
    '[TYPE_VIOLATION] Map step each expects array input but dependency items produced object',
    'type violation step error_message (object output)'
);
select is(
    (select st.error_message from pgflow.step_tasks as st
     where st.run_id = 'd0000000-0000-0000-0000-000000000002' and st.step_slug = 'items'),
    '[TYPE_VIOLATION] Produced null instead of array',
    'type violation task error_message (SQL NULL output)'
);
select is(
    (select ss.error_message from pgflow.step_states as ss
     where ss.run_id = 'd0000000-0000-0000-0000-000000000002' and ss.step_slug = 'items'),
    '[TYPE_VIOLATION] Map step each expects array input but dependency items produced null',
    'type violation step error_message (SQL NULL output)'
);
select pgflow.create_flow('conf_err_cond');
select pgflow.add_step('conf_err_cond', 'gate', required_input_pattern => '{"go": true}', when_unmet => 'fail');
select pgflow.start_flow('conf_err_cond', '{}', 'd0000000-0000-0000-0000-000000000003');
select is(
    (select ss.error_message from pgflow.step_states as ss where ss.run_id = 'd0000000-0000-0000-0000-000000000003'),
    'Condition not met',
    'condition fail: step error_message Condition not met'
);

-- Cron helpers' return texts (spec §8.7) ---------------------------------------------------------
select matches(
    pgflow.setup_ensure_workers_cron('2 seconds'),
    '^Scheduled pgflow_ensure_workers \(every 2 seconds, job_id=[0-9]+\) and pgflow_cleanup_logs \(hourly, job_id=[0-9]+\)$',
    'setup_ensure_workers_cron returns its Scheduled ... text'
);
create temp table conf_cron_texts on commit drop as
select pgflow.setup_ensure_workers_cron() as ensure_text, pgflow.setup_requeue_stalled_tasks_cron() as requeue_text;
select is(
    (select t.ensure_text from conf_cron_texts as t),
    format(
        'Scheduled pgflow_ensure_workers (every 1 second, job_id=%s) and pgflow_cleanup_logs (hourly, job_id=%s)',
        (select j.jobid from cron.job as j where j.jobname = 'pgflow_ensure_workers'),
        (select j.jobid from cron.job as j where j.jobname = 'pgflow_cleanup_logs')
    ),
    'setup_ensure_workers_cron text carries the cron job ids (default interval 1 second)'
);
select is(
    (select t.requeue_text from conf_cron_texts as t),
    format(
        'Scheduled pgflow_requeue_stalled_tasks (every 15 seconds, job_id=%s)',
        (select j.jobid from cron.job as j where j.jobname = 'pgflow_requeue_stalled_tasks')
    ),
    'setup_requeue_stalled_tasks_cron returns its Scheduled ... text (default 15 seconds)'
);
select is(
    (select array_agg(j.jobname || ' ' || j.schedule || ' ' || j.command order by j.jobname) from cron.job as j
     where j.jobname in ('pgflow_cleanup_logs', 'pgflow_ensure_workers', 'pgflow_requeue_stalled_tasks')),
    array['pgflow_cleanup_logs 0 * * * * select pgflow.cleanup_ensure_workers_logs()',
          'pgflow_ensure_workers 1 second select pgflow.ensure_workers()',
          'pgflow_requeue_stalled_tasks 15 seconds select pgflow.requeue_stalled_tasks()'],
    'exactly one cron job per name, with the spec''s schedules and commands'
);
set local client_min_messages = warning;
select is_empty(
    $$select * from pgflow.poll_for_tasks('conf_err', 5, 10)$$,
    'poll_for_tasks (deprecated) returns no rows'
);

select * from finish();
rollback;
