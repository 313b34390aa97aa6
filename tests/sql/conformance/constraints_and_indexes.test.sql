-- Conformance (spec §3): every named constraint sits on the right table with the right kind;
-- keys and foreign keys have the spec's columns, targets and ON DELETE action; every idx_* index
-- has the spec's columns and partial predicate. Check-constraint behaviour is exercised by
-- raw writes at the end (spec §0.19: fixtures write raw states, so no check may be stricter).
begin;
select plan(131);

select set_eq(
    $$select c.conname::text from pg_constraint as c where c.conrelid = 'pgflow.flows'::regclass$$,
    array['flows_pkey', 'slug_is_valid', 'opt_max_attempts_is_nonnegative', 'opt_base_delay_is_nonnegative', 'opt_timeout_is_positive',
          'opt_retry_jitter_is_a_fraction', 'opt_max_retry_delay_is_nonnegative'],
    'pgflow.flows has exactly the named constraints of spec 3 and those of run control'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.flows'::regclass and c.conname = 'flows_pkey'),
    'p',
    'flows.flows_pkey is a primary key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.flows'::regclass and c.conname = 'flows_pkey'),
    'PRIMARY KEY (flow_slug)',
    'flows_pkey: PRIMARY KEY (flow_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.flows'::regclass and c.conname = 'slug_is_valid'),
    'c',
    'flows.slug_is_valid is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.flows'::regclass and c.conname = 'opt_max_attempts_is_nonnegative'),
    'c',
    'flows.opt_max_attempts_is_nonnegative is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.flows'::regclass and c.conname = 'opt_base_delay_is_nonnegative'),
    'c',
    'flows.opt_base_delay_is_nonnegative is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.flows'::regclass and c.conname = 'opt_timeout_is_positive'),
    'c',
    'flows.opt_timeout_is_positive is a check constraint'
);
select set_eq(
    $$select c.conname::text from pg_constraint as c where c.conrelid = 'pgflow.steps'::regclass$$,
    array['steps_pkey', 'steps_flow_slug_step_index_key', 'steps_flow_slug_fkey', 'steps_step_slug_check', 'steps_step_type_check', 'steps_deps_count_check', 'opt_max_attempts_is_nonnegative', 'opt_base_delay_is_nonnegative', 'opt_timeout_is_positive', 'opt_start_delay_is_nonnegative', 'required_input_pattern_is_object', 'forbidden_input_pattern_is_object', 'when_unmet_is_valid', 'when_exhausted_is_valid',
          'opt_retry_jitter_is_a_fraction', 'opt_max_retry_delay_is_nonnegative'],
    'pgflow.steps has exactly the named constraints of spec 3 and those of run control'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_pkey'),
    'p',
    'steps.steps_pkey is a primary key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_pkey'),
    'PRIMARY KEY (flow_slug, step_slug)',
    'steps_pkey: PRIMARY KEY (flow_slug, step_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_flow_slug_step_index_key'),
    'u',
    'steps.steps_flow_slug_step_index_key is a unique constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_flow_slug_step_index_key'),
    'UNIQUE (flow_slug, step_index)',
    'steps_flow_slug_step_index_key: UNIQUE (flow_slug, step_index)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_flow_slug_fkey'),
    'f',
    'steps.steps_flow_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_flow_slug_fkey'),
    'FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)',
    'steps_flow_slug_fkey: FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_step_slug_check'),
    'c',
    'steps.steps_step_slug_check is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_step_type_check'),
    'c',
    'steps.steps_step_type_check is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'steps_deps_count_check'),
    'c',
    'steps.steps_deps_count_check is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'opt_max_attempts_is_nonnegative'),
    'c',
    'steps.opt_max_attempts_is_nonnegative is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'opt_base_delay_is_nonnegative'),
    'c',
    'steps.opt_base_delay_is_nonnegative is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'opt_timeout_is_positive'),
    'c',
    'steps.opt_timeout_is_positive is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'opt_start_delay_is_nonnegative'),
    'c',
    'steps.opt_start_delay_is_nonnegative is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'required_input_pattern_is_object'),
    'c',
    'steps.required_input_pattern_is_object is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'forbidden_input_pattern_is_object'),
    'c',
    'steps.forbidden_input_pattern_is_object is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'when_unmet_is_valid'),
    'c',
    'steps.when_unmet_is_valid is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.steps'::regclass and c.conname = 'when_exhausted_is_valid'),
    'c',
    'steps.when_exhausted_is_valid is a check constraint'
);
select set_eq(
    $$select c.conname::text from pg_constraint as c where c.conrelid = 'pgflow.deps'::regclass$$,
    array['deps_pkey', 'deps_flow_slug_fkey', 'deps_flow_slug_dep_slug_fkey', 'deps_flow_slug_step_slug_fkey', 'deps_check'],
    'pgflow.deps has exactly the named constraints of spec 3'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_pkey'),
    'p',
    'deps.deps_pkey is a primary key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_pkey'),
    'PRIMARY KEY (flow_slug, dep_slug, step_slug)',
    'deps_pkey: PRIMARY KEY (flow_slug, dep_slug, step_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_flow_slug_fkey'),
    'f',
    'deps.deps_flow_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_flow_slug_fkey'),
    'FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)',
    'deps_flow_slug_fkey: FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_flow_slug_dep_slug_fkey'),
    'f',
    'deps.deps_flow_slug_dep_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_flow_slug_dep_slug_fkey'),
    'FOREIGN KEY (flow_slug, dep_slug) REFERENCES pgflow.steps(flow_slug, step_slug)',
    'deps_flow_slug_dep_slug_fkey: FOREIGN KEY (flow_slug, dep_slug) REFERENCES pgflow.steps(flow_slug, step_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_flow_slug_step_slug_fkey'),
    'f',
    'deps.deps_flow_slug_step_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_flow_slug_step_slug_fkey'),
    'FOREIGN KEY (flow_slug, step_slug) REFERENCES pgflow.steps(flow_slug, step_slug)',
    'deps_flow_slug_step_slug_fkey: FOREIGN KEY (flow_slug, step_slug) REFERENCES pgflow.steps(flow_slug, step_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.deps'::regclass and c.conname = 'deps_check'),
    'c',
    'deps.deps_check is a check constraint'
);
select set_eq(
    $$select c.conname::text from pg_constraint as c where c.conrelid = 'pgflow.runs'::regclass$$,
    array['runs_pkey', 'runs_flow_slug_fkey', 'status_is_valid', 'runs_remaining_steps_check', 'completed_at_or_failed_at', 'completed_at_is_after_started_at', 'failed_at_is_after_started_at',
          'cancelled_at_is_after_started_at', 'cancelled_at_only_when_cancelled', 'runs_retry_of_run_id_fkey'],
    'pgflow.runs has exactly the named constraints of spec 3 and those of run control'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'runs_pkey'),
    'p',
    'runs.runs_pkey is a primary key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'runs_pkey'),
    'PRIMARY KEY (run_id)',
    'runs_pkey: PRIMARY KEY (run_id)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'runs_flow_slug_fkey'),
    'f',
    'runs.runs_flow_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'runs_flow_slug_fkey'),
    'FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)',
    'runs_flow_slug_fkey: FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'status_is_valid'),
    'c',
    'runs.status_is_valid is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'runs_remaining_steps_check'),
    'c',
    'runs.runs_remaining_steps_check is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'completed_at_or_failed_at'),
    'c',
    'runs.completed_at_or_failed_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'completed_at_is_after_started_at'),
    'c',
    'runs.completed_at_is_after_started_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.runs'::regclass and c.conname = 'failed_at_is_after_started_at'),
    'c',
    'runs.failed_at_is_after_started_at is a check constraint'
);
select set_eq(
    $$select c.conname::text from pg_constraint as c where c.conrelid = 'pgflow.step_states'::regclass$$,
    array['step_states_pkey', 'step_states_flow_slug_fkey', 'step_states_run_id_fkey', 'step_states_flow_slug_step_slug_fkey', 'status_is_valid', 'step_states_initial_tasks_check', 'step_states_remaining_deps_check', 'status_and_remaining_tasks_match', 'remaining_tasks_state_consistency', 'initial_tasks_known_when_started', 'output_only_for_completed_or_null', 'skip_reason_matches_status', 'completed_at_or_failed_at_or_skipped_at', 'started_at_is_after_created_at', 'completed_at_is_after_started_at', 'failed_at_is_after_started_at', 'skipped_at_is_after_created_at'],
    'pgflow.step_states has exactly the named constraints of spec 3'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_pkey'),
    'p',
    'step_states.step_states_pkey is a primary key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_pkey'),
    'PRIMARY KEY (run_id, step_slug)',
    'step_states_pkey: PRIMARY KEY (run_id, step_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_flow_slug_fkey'),
    'f',
    'step_states.step_states_flow_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_flow_slug_fkey'),
    'FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)',
    'step_states_flow_slug_fkey: FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_run_id_fkey'),
    'f',
    'step_states.step_states_run_id_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_run_id_fkey'),
    'FOREIGN KEY (run_id) REFERENCES pgflow.runs(run_id)',
    'step_states_run_id_fkey: FOREIGN KEY (run_id) REFERENCES pgflow.runs(run_id)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_flow_slug_step_slug_fkey'),
    'f',
    'step_states.step_states_flow_slug_step_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_flow_slug_step_slug_fkey'),
    'FOREIGN KEY (flow_slug, step_slug) REFERENCES pgflow.steps(flow_slug, step_slug)',
    'step_states_flow_slug_step_slug_fkey: FOREIGN KEY (flow_slug, step_slug) REFERENCES pgflow.steps(flow_slug, step_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'status_is_valid'),
    'c',
    'step_states.status_is_valid is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_initial_tasks_check'),
    'c',
    'step_states.step_states_initial_tasks_check is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'step_states_remaining_deps_check'),
    'c',
    'step_states.step_states_remaining_deps_check is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'status_and_remaining_tasks_match'),
    'c',
    'step_states.status_and_remaining_tasks_match is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'remaining_tasks_state_consistency'),
    'c',
    'step_states.remaining_tasks_state_consistency is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'initial_tasks_known_when_started'),
    'c',
    'step_states.initial_tasks_known_when_started is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'output_only_for_completed_or_null'),
    'c',
    'step_states.output_only_for_completed_or_null is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'skip_reason_matches_status'),
    'c',
    'step_states.skip_reason_matches_status is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'completed_at_or_failed_at_or_skipped_at'),
    'c',
    'step_states.completed_at_or_failed_at_or_skipped_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'started_at_is_after_created_at'),
    'c',
    'step_states.started_at_is_after_created_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'completed_at_is_after_started_at'),
    'c',
    'step_states.completed_at_is_after_started_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'failed_at_is_after_started_at'),
    'c',
    'step_states.failed_at_is_after_started_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_states'::regclass and c.conname = 'skipped_at_is_after_created_at'),
    'c',
    'step_states.skipped_at_is_after_created_at is a check constraint'
);
select set_eq(
    $$select c.conname::text from pg_constraint as c where c.conrelid = 'pgflow.step_tasks'::regclass$$,
    array['step_tasks_pkey', 'step_tasks_flow_slug_fkey', 'step_tasks_run_id_fkey', 'step_tasks_run_id_step_slug_fkey', 'step_tasks_last_worker_id_fkey', 'valid_status', 'attempts_count_nonnegative', 'output_valid_only_for_completed', 'completed_at_or_failed_at', 'completed_at_is_after_queued_at', 'failed_at_is_after_queued_at', 'started_at_is_after_queued_at', 'completed_at_is_after_started_at', 'failed_at_is_after_started_at'],
    'pgflow.step_tasks has exactly the named constraints of spec 3'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_pkey'),
    'p',
    'step_tasks.step_tasks_pkey is a primary key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_pkey'),
    'PRIMARY KEY (run_id, step_slug, task_index)',
    'step_tasks_pkey: PRIMARY KEY (run_id, step_slug, task_index)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_flow_slug_fkey'),
    'f',
    'step_tasks.step_tasks_flow_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_flow_slug_fkey'),
    'FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)',
    'step_tasks_flow_slug_fkey: FOREIGN KEY (flow_slug) REFERENCES pgflow.flows(flow_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_run_id_fkey'),
    'f',
    'step_tasks.step_tasks_run_id_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_run_id_fkey'),
    'FOREIGN KEY (run_id) REFERENCES pgflow.runs(run_id)',
    'step_tasks_run_id_fkey: FOREIGN KEY (run_id) REFERENCES pgflow.runs(run_id)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_run_id_step_slug_fkey'),
    'f',
    'step_tasks.step_tasks_run_id_step_slug_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_run_id_step_slug_fkey'),
    'FOREIGN KEY (run_id, step_slug) REFERENCES pgflow.step_states(run_id, step_slug)',
    'step_tasks_run_id_step_slug_fkey: FOREIGN KEY (run_id, step_slug) REFERENCES pgflow.step_states(run_id, step_slug)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_last_worker_id_fkey'),
    'f',
    'step_tasks.step_tasks_last_worker_id_fkey is a foreign key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'step_tasks_last_worker_id_fkey'),
    'FOREIGN KEY (last_worker_id) REFERENCES pgflow.workers(worker_id) ON DELETE SET NULL',
    'step_tasks_last_worker_id_fkey: FOREIGN KEY (last_worker_id) REFERENCES pgflow.workers(worker_id) ON DELETE SET NULL'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'valid_status'),
    'c',
    'step_tasks.valid_status is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'attempts_count_nonnegative'),
    'c',
    'step_tasks.attempts_count_nonnegative is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'output_valid_only_for_completed'),
    'c',
    'step_tasks.output_valid_only_for_completed is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'completed_at_or_failed_at'),
    'c',
    'step_tasks.completed_at_or_failed_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'completed_at_is_after_queued_at'),
    'c',
    'step_tasks.completed_at_is_after_queued_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'failed_at_is_after_queued_at'),
    'c',
    'step_tasks.failed_at_is_after_queued_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'started_at_is_after_queued_at'),
    'c',
    'step_tasks.started_at_is_after_queued_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'completed_at_is_after_started_at'),
    'c',
    'step_tasks.completed_at_is_after_started_at is a check constraint'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.step_tasks'::regclass and c.conname = 'failed_at_is_after_started_at'),
    'c',
    'step_tasks.failed_at_is_after_started_at is a check constraint'
);
select set_eq(
    $$select c.conname::text from pg_constraint as c where c.conrelid = 'pgflow.workers'::regclass$$,
    array['workers_pkey'],
    'pgflow.workers has exactly the named constraints of spec 3'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.workers'::regclass and c.conname = 'workers_pkey'),
    'p',
    'workers.workers_pkey is a primary key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.workers'::regclass and c.conname = 'workers_pkey'),
    'PRIMARY KEY (worker_id)',
    'workers_pkey: PRIMARY KEY (worker_id)'
);
select set_eq(
    $$select c.conname::text from pg_constraint as c where c.conrelid = 'pgflow.worker_functions'::regclass$$,
    array['worker_functions_pkey', 'worker_functions_debounce_check'],
    'pgflow.worker_functions has exactly the named constraints of spec 3'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.worker_functions'::regclass and c.conname = 'worker_functions_pkey'),
    'p',
    'worker_functions.worker_functions_pkey is a primary key constraint'
);
select is(
    (select pg_get_constraintdef(c.oid) from pg_constraint as c
     where c.conrelid = 'pgflow.worker_functions'::regclass and c.conname = 'worker_functions_pkey'),
    'PRIMARY KEY (function_name)',
    'worker_functions_pkey: PRIMARY KEY (function_name)'
);
select is(
    (select c.contype::text from pg_constraint as c
     where c.conrelid = 'pgflow.worker_functions'::regclass and c.conname = 'worker_functions_debounce_check'),
    'c',
    'worker_functions.worker_functions_debounce_check is a check constraint'
);
select set_eq(
    $$select i.indexname::text from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname like 'idx\_%'$$,
    array['idx_deps_by_flow_step', 'idx_deps_by_flow_dep', 'idx_runs_flow_slug', 'idx_runs_status', 'idx_step_states_ready', 'idx_step_states_failed', 'idx_step_states_skipped', 'idx_step_states_flow_slug', 'idx_step_states_run_id', 'idx_step_tasks_message_id', 'idx_step_tasks_queued', 'idx_step_tasks_completed', 'idx_step_tasks_failed', 'idx_step_tasks_flow_run_step', 'idx_step_tasks_started', 'idx_step_tasks_queued_msg', 'idx_step_tasks_last_worker', 'idx_workers_queue_name', 'idx_workers_heartbeat',
          'idx_runs_retry_of_run_id', 'idx_runs_finished', 'idx_schedules_due', 'idx_schedules_flow_slug'],
    'schema pgflow has exactly the idx_* indexes of spec 3 and those of run control and pgflow.schedules (issue 17)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_deps_by_flow_step'),
    'CREATE INDEX idx_deps_by_flow_step ON pgflow.deps USING btree (flow_slug, step_slug)',
    'idx_deps_by_flow_step on deps (flow_slug, step_slug)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_deps_by_flow_dep'),
    'CREATE INDEX idx_deps_by_flow_dep ON pgflow.deps USING btree (flow_slug, dep_slug)',
    'idx_deps_by_flow_dep on deps (flow_slug, dep_slug)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_runs_flow_slug'),
    'CREATE INDEX idx_runs_flow_slug ON pgflow.runs USING btree (flow_slug)',
    'idx_runs_flow_slug on runs (flow_slug)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_runs_status'),
    'CREATE INDEX idx_runs_status ON pgflow.runs USING btree (status)',
    'idx_runs_status on runs (status)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_states_ready'),
    'CREATE INDEX idx_step_states_ready ON pgflow.step_states USING btree (run_id, status, remaining_deps) WHERE ((status = ''created''::text) AND (remaining_deps = 0))',
    'idx_step_states_ready on step_states (run_id, status, remaining_deps) where ((status = ''created''::text) AND (remaining_deps = 0))'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_states_failed'),
    'CREATE INDEX idx_step_states_failed ON pgflow.step_states USING btree (run_id, step_slug) WHERE (status = ''failed''::text)',
    'idx_step_states_failed on step_states (run_id, step_slug) where (status = ''failed''::text)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_states_skipped'),
    'CREATE INDEX idx_step_states_skipped ON pgflow.step_states USING btree (run_id, step_slug) WHERE (status = ''skipped''::text)',
    'idx_step_states_skipped on step_states (run_id, step_slug) where (status = ''skipped''::text)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_states_flow_slug'),
    'CREATE INDEX idx_step_states_flow_slug ON pgflow.step_states USING btree (flow_slug)',
    'idx_step_states_flow_slug on step_states (flow_slug)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_states_run_id'),
    'CREATE INDEX idx_step_states_run_id ON pgflow.step_states USING btree (run_id)',
    'idx_step_states_run_id on step_states (run_id)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_tasks_message_id'),
    'CREATE INDEX idx_step_tasks_message_id ON pgflow.step_tasks USING btree (message_id)',
    'idx_step_tasks_message_id on step_tasks (message_id)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_tasks_queued'),
    'CREATE INDEX idx_step_tasks_queued ON pgflow.step_tasks USING btree (run_id, step_slug) WHERE (status = ''queued''::text)',
    'idx_step_tasks_queued on step_tasks (run_id, step_slug) where (status = ''queued''::text)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_tasks_completed'),
    'CREATE INDEX idx_step_tasks_completed ON pgflow.step_tasks USING btree (run_id, step_slug) WHERE (status = ''completed''::text)',
    'idx_step_tasks_completed on step_tasks (run_id, step_slug) where (status = ''completed''::text)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_tasks_failed'),
    'CREATE INDEX idx_step_tasks_failed ON pgflow.step_tasks USING btree (run_id, step_slug) WHERE (status = ''failed''::text)',
    'idx_step_tasks_failed on step_tasks (run_id, step_slug) where (status = ''failed''::text)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_tasks_flow_run_step'),
    'CREATE INDEX idx_step_tasks_flow_run_step ON pgflow.step_tasks USING btree (flow_slug, run_id, step_slug)',
    'idx_step_tasks_flow_run_step on step_tasks (flow_slug, run_id, step_slug)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_tasks_started'),
    'CREATE INDEX idx_step_tasks_started ON pgflow.step_tasks USING btree (started_at) WHERE (status = ''started''::text)',
    'idx_step_tasks_started on step_tasks (started_at) where (status = ''started''::text)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_tasks_queued_msg'),
    'CREATE INDEX idx_step_tasks_queued_msg ON pgflow.step_tasks USING btree (message_id) WHERE (status = ''queued''::text)',
    'idx_step_tasks_queued_msg on step_tasks (message_id) where (status = ''queued''::text)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_step_tasks_last_worker'),
    'CREATE INDEX idx_step_tasks_last_worker ON pgflow.step_tasks USING btree (last_worker_id) WHERE (status = ''started''::text)',
    'idx_step_tasks_last_worker on step_tasks (last_worker_id) where (status = ''started''::text)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_workers_queue_name'),
    'CREATE INDEX idx_workers_queue_name ON pgflow.workers USING btree (queue_name)',
    'idx_workers_queue_name on workers (queue_name)'
);
select is(
    (select i.indexdef from pg_indexes as i where i.schemaname = 'pgflow' and i.indexname = 'idx_workers_heartbeat'),
    'CREATE INDEX idx_workers_heartbeat ON pgflow.workers USING btree (last_heartbeat_at)',
    'idx_workers_heartbeat on workers (last_heartbeat_at)'
);

-- No triggers: raw writes by fixtures meet the check constraints and nothing else
select is_empty(
    $$select t.tgname from pg_trigger as t inner join pg_class as c on c.oid = t.tgrelid
      where c.relnamespace = 'pgflow'::regnamespace and not t.tgisinternal$$,
    'no user triggers on pgflow tables'
);

-- ON DELETE SET NULL of step_tasks_last_worker_id_fkey, by behaviour
select pgflow.create_flow('conf_ci_flow');
select pgflow.add_step('conf_ci_flow', 'only');
insert into pgflow.workers (worker_id, queue_name, function_name)
values ('c0c0c0c0-0000-0000-0000-000000000001', 'conf_ci_flow', 'conf_fn');
select pgflow.start_flow('conf_ci_flow', '{}'::jsonb, 'c0c0c0c0-0000-0000-0000-0000000000a1'::uuid);
select pgflow.start_tasks(
    'conf_ci_flow',
    (select array_agg(st.message_id) from pgflow.step_tasks as st where st.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'),
    'c0c0c0c0-0000-0000-0000-000000000001'
);
delete from pgflow.workers as w where w.worker_id = 'c0c0c0c0-0000-0000-0000-000000000001';
select is(
    (select st.last_worker_id from pgflow.step_tasks as st where st.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'),
    null::uuid,
    'deleting a worker sets step_tasks.last_worker_id to NULL'
);

-- Raw states the spec allows (checks no stricter than listed)
select lives_ok(
    $$insert into pgflow.step_states (flow_slug, run_id, step_slug, status, remaining_tasks, initial_tasks, output,
          started_at, completed_at)
      values ('conf_ci_flow', (select r.run_id from pgflow.runs as r where r.flow_slug = 'conf_ci_flow'), 'only',
          'completed', 0, 1, null, now(), now())
      on conflict (run_id, step_slug) do update set status = 'completed', remaining_tasks = 0, output = null,
          completed_at = now()$$,
    'a completed step may have NULL output'
);
select lives_ok(
    $$update pgflow.step_tasks as st set status = 'completed', started_at = null, completed_at = now(), output = '1'
      where st.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    'step_tasks: completed_at with started_at NULL passes completed_at_is_after_started_at'
);
select lives_ok(
    $$update pgflow.step_tasks as st set status = 'failed', completed_at = null, failed_at = now(), output = '"x"'
      where st.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    'step_tasks: a failed task may keep its output (output_valid_only_for_completed)'
);
select throws_ok(
    $$update pgflow.step_tasks as st set status = 'queued'
      where st.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    '23514',
    'new row for relation "step_tasks" violates check constraint "output_valid_only_for_completed"',
    'step_tasks: output on a queued task violates output_valid_only_for_completed'
);
select throws_ok(
    $$update pgflow.step_states as ss set status = 'started', initial_tasks = 1, remaining_tasks = 1, output = '1'
      where ss.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    '23514',
    'new row for relation "step_states" violates check constraint "output_only_for_completed_or_null"',
    'step_states: output on a non-completed step violates output_only_for_completed_or_null'
);
select throws_ok(
    $$update pgflow.step_states as ss set status = 'skipped', output = null, remaining_tasks = null
      where ss.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    '23514',
    'new row for relation "step_states" violates check constraint "skip_reason_matches_status"',
    'step_states: skipped without skip_reason violates skip_reason_matches_status'
);
select throws_ok(
    $$update pgflow.step_states as ss set failed_at = now()
      where ss.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    '23514',
    'new row for relation "step_states" violates check constraint "completed_at_or_failed_at_or_skipped_at"',
    'step_states: two terminal timestamps violate completed_at_or_failed_at_or_skipped_at'
);
select throws_ok(
    $$update pgflow.step_states as ss set status = 'started', output = null, initial_tasks = null
      where ss.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    '23514',
    'new row for relation "step_states" violates check constraint "initial_tasks_known_when_started"',
    'step_states: started with NULL initial_tasks violates initial_tasks_known_when_started'
);
select throws_ok(
    $$update pgflow.step_states as ss set status = 'created', output = null, completed_at = null, remaining_tasks = 1
      where ss.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    '23514',
    'new row for relation "step_states" violates check constraint "remaining_tasks_state_consistency"',
    'step_states: remaining_tasks on a created step violates remaining_tasks_state_consistency'
);
select throws_ok(
    $$update pgflow.step_states as ss set remaining_tasks = 2
      where ss.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    '23514',
    'new row for relation "step_states" violates check constraint "status_and_remaining_tasks_match"',
    'step_states: completed with remaining_tasks <> 0 violates status_and_remaining_tasks_match'
);
select throws_ok(
    $$update pgflow.runs as r set completed_at = now(), failed_at = now()
      where r.run_id = 'c0c0c0c0-0000-0000-0000-0000000000a1'$$,
    '23514',
    'new row for relation "runs" violates check constraint "completed_at_or_failed_at"',
    'runs: completed_at and failed_at both set violate completed_at_or_failed_at'
);
select throws_ok(
    $$insert into pgflow.worker_functions (function_name, debounce) values ('conf_fn_fast', '500 milliseconds')$$,
    '23514',
    'new row for relation "worker_functions" violates check constraint "worker_functions_debounce_check"',
    'worker_functions: debounce under 1 second violates worker_functions_debounce_check'
);
select lives_ok(
    $$insert into pgflow.worker_functions (function_name, debounce) values ('conf_fn_1s', '1 second')$$,
    'worker_functions: debounce of exactly 1 second is allowed'
);
select throws_ok(
    $$insert into pgflow.flows (flow_slug, opt_timeout) values ('conf_ci_zero', 0)$$,
    '23514',
    'new row for relation "flows" violates check constraint "opt_timeout_is_positive"',
    'flows: opt_timeout 0 violates opt_timeout_is_positive'
);
select lives_ok(
    $$insert into pgflow.flows (flow_slug, opt_max_attempts, opt_base_delay) values ('conf_ci_zero', 0, 0)$$,
    'flows: opt_max_attempts 0 and opt_base_delay 0 are allowed (non-negative)'
);

select * from finish();
rollback;
