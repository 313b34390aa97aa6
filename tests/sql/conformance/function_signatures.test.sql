-- Conformance (spec §1, §2, §8): every function of the SQL API with its exact parameter names,
-- types, order and defaults (callers use named arguments), its result type, SECURITY DEFINER
-- where spec §1 lists it and nowhere else, volatility where stated; the composite type
-- step_task_record; `prune_data_older_than` reserved (not defined); schema pgflow closed to PUBLIC.
begin;
select plan(172);

select has_function('pgflow', 'is_valid_slug', array['text']::text[], 'pgflow.is_valid_slug(text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'is_valid_slug'), 1, 'is_valid_slug: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('is_valid_slug'), 'slug text', 'is_valid_slug arguments: slug text');
select is(pgflow_tests.conf_fn_result('is_valid_slug'), 'boolean', 'is_valid_slug returns boolean');
select isnt_definer('pgflow', 'is_valid_slug', array['text']::text[], 'is_valid_slug is not SECURITY DEFINER');
select volatility_is('pgflow', 'is_valid_slug', array['text']::text[], 'immutable', 'is_valid_slug is IMMUTABLE');
select has_function('pgflow', 'calculate_retry_delay', array['numeric', 'integer']::text[], 'pgflow.calculate_retry_delay(numeric, integer) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'calculate_retry_delay'), 1, 'calculate_retry_delay: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('calculate_retry_delay'), 'base_delay numeric, attempts_count integer', 'calculate_retry_delay arguments: base_delay numeric, attempts_count integer');
select is(pgflow_tests.conf_fn_result('calculate_retry_delay'), 'integer', 'calculate_retry_delay returns integer');
select isnt_definer('pgflow', 'calculate_retry_delay', array['numeric', 'integer']::text[], 'calculate_retry_delay is not SECURITY DEFINER');
select volatility_is('pgflow', 'calculate_retry_delay', array['numeric', 'integer']::text[], 'immutable', 'calculate_retry_delay is IMMUTABLE');
select has_function('pgflow', 'is_local', array[]::text[], 'pgflow.is_local() exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'is_local'), 1, 'is_local: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('is_local'), '', 'is_local arguments: (none)');
select is(pgflow_tests.conf_fn_result('is_local'), 'boolean', 'is_local returns boolean');
select isnt_definer('pgflow', 'is_local', array[]::text[], 'is_local is not SECURITY DEFINER');
select volatility_is('pgflow', 'is_local', array[]::text[], 'stable', 'is_local is STABLE');
select has_function('pgflow', 'create_flow', array['text', 'integer', 'integer', 'integer']::text[], 'pgflow.create_flow(text, integer, integer, integer) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'create_flow'), 1, 'create_flow: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('create_flow'), 'flow_slug text, max_attempts integer DEFAULT NULL::integer, base_delay integer DEFAULT NULL::integer, timeout integer DEFAULT NULL::integer', 'create_flow arguments: flow_slug text, max_attempts integer DEFAULT NULL::integer, base_delay integer DEFAULT NULL::integer, timeout integer DEFAULT NULL::integer');
select is(pgflow_tests.conf_fn_result('create_flow'), 'pgflow.flows', 'create_flow returns pgflow.flows');
select isnt_definer('pgflow', 'create_flow', array['text', 'integer', 'integer', 'integer']::text[], 'create_flow is not SECURITY DEFINER');
select has_function('pgflow', 'add_step', array['text', 'text', 'text[]', 'integer', 'integer', 'integer', 'integer', 'text', 'jsonb', 'jsonb', 'text', 'text']::text[], 'pgflow.add_step(text, text, text[], integer, integer, integer, integer, text, jsonb, jsonb, text, text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'add_step'), 1, 'add_step: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('add_step'), 'flow_slug text, step_slug text, deps_slugs text[] DEFAULT ''{}''::text[], max_attempts integer DEFAULT NULL::integer, base_delay integer DEFAULT NULL::integer, timeout integer DEFAULT NULL::integer, start_delay integer DEFAULT NULL::integer, step_type text DEFAULT ''single''::text, required_input_pattern jsonb DEFAULT NULL::jsonb, forbidden_input_pattern jsonb DEFAULT NULL::jsonb, when_unmet text DEFAULT ''skip''::text, when_exhausted text DEFAULT ''fail''::text', 'add_step arguments: flow_slug text, step_slug text, deps_slugs text[] DEFAULT ''{}''::text[], max_attempts integer DEFAULT NULL::integer, base_delay integer DEFAULT NULL::integer, timeout integer DEFAULT NULL::integer, start_delay integer DEFAULT NULL::integer, step_type text DEFAULT ''single''::text, required_input_pattern jsonb DEFAULT NULL::jsonb, forbidden_input_pattern jsonb DEFAULT NULL::jsonb, when_unmet text DEFAULT ''skip''::text, when_exhausted text DEFAULT ''fail''::text');
select is(pgflow_tests.conf_fn_result('add_step'), 'pgflow.steps', 'add_step returns pgflow.steps');
select isnt_definer('pgflow', 'add_step', array['text', 'text', 'text[]', 'integer', 'integer', 'integer', 'integer', 'text', 'jsonb', 'jsonb', 'text', 'text']::text[], 'add_step is not SECURITY DEFINER');
select has_function('pgflow', 'start_flow', array['text', 'jsonb', 'uuid']::text[], 'pgflow.start_flow(text, jsonb, uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'start_flow'), 1, 'start_flow: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('start_flow'), 'flow_slug text, input jsonb, run_id uuid DEFAULT NULL::uuid', 'start_flow arguments: flow_slug text, input jsonb, run_id uuid DEFAULT NULL::uuid');
select is(pgflow_tests.conf_fn_result('start_flow'), 'SETOF pgflow.runs', 'start_flow returns SETOF pgflow.runs');
select isnt_definer('pgflow', 'start_flow', array['text', 'jsonb', 'uuid']::text[], 'start_flow is not SECURITY DEFINER');
select has_function('pgflow', 'start_flow_with_states', array['text', 'jsonb', 'uuid']::text[], 'pgflow.start_flow_with_states(text, jsonb, uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'start_flow_with_states'), 1, 'start_flow_with_states: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('start_flow_with_states'), 'flow_slug text, input jsonb, run_id uuid DEFAULT NULL::uuid', 'start_flow_with_states arguments: flow_slug text, input jsonb, run_id uuid DEFAULT NULL::uuid');
select is(pgflow_tests.conf_fn_result('start_flow_with_states'), 'jsonb', 'start_flow_with_states returns jsonb');
select is_definer('pgflow', 'start_flow_with_states', array['text', 'jsonb', 'uuid']::text[], 'start_flow_with_states is SECURITY DEFINER');
select has_function('pgflow', 'get_run_with_states', array['uuid']::text[], 'pgflow.get_run_with_states(uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'get_run_with_states'), 1, 'get_run_with_states: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('get_run_with_states'), 'run_id uuid', 'get_run_with_states arguments: run_id uuid');
select is(pgflow_tests.conf_fn_result('get_run_with_states'), 'jsonb', 'get_run_with_states returns jsonb');
select is_definer('pgflow', 'get_run_with_states', array['uuid']::text[], 'get_run_with_states is SECURITY DEFINER');
select has_function('pgflow', 'start_ready_steps', array['uuid']::text[], 'pgflow.start_ready_steps(uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'start_ready_steps'), 1, 'start_ready_steps: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('start_ready_steps'), 'run_id uuid', 'start_ready_steps arguments: run_id uuid');
select is(pgflow_tests.conf_fn_result('start_ready_steps'), 'void', 'start_ready_steps returns void');
select isnt_definer('pgflow', 'start_ready_steps', array['uuid']::text[], 'start_ready_steps is not SECURITY DEFINER');
select has_function('pgflow', 'cascade_resolve_conditions', array['uuid']::text[], 'pgflow.cascade_resolve_conditions(uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'cascade_resolve_conditions'), 1, 'cascade_resolve_conditions: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('cascade_resolve_conditions'), 'run_id uuid', 'cascade_resolve_conditions arguments: run_id uuid');
select is(pgflow_tests.conf_fn_result('cascade_resolve_conditions'), 'boolean', 'cascade_resolve_conditions returns boolean');
select isnt_definer('pgflow', 'cascade_resolve_conditions', array['uuid']::text[], 'cascade_resolve_conditions is not SECURITY DEFINER');
select has_function('pgflow', 'cascade_complete_taskless_steps', array['uuid']::text[], 'pgflow.cascade_complete_taskless_steps(uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'cascade_complete_taskless_steps'), 1, 'cascade_complete_taskless_steps: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('cascade_complete_taskless_steps'), 'run_id uuid', 'cascade_complete_taskless_steps arguments: run_id uuid');
select is(pgflow_tests.conf_fn_result('cascade_complete_taskless_steps'), 'integer', 'cascade_complete_taskless_steps returns integer');
select isnt_definer('pgflow', 'cascade_complete_taskless_steps', array['uuid']::text[], 'cascade_complete_taskless_steps is not SECURITY DEFINER');
select has_function('pgflow', '_cascade_force_skip_steps', array['uuid', 'text', 'text']::text[], 'pgflow._cascade_force_skip_steps(uuid, text, text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = '_cascade_force_skip_steps'), 1, '_cascade_force_skip_steps: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('_cascade_force_skip_steps'), 'run_id uuid, step_slug text, skip_reason text', '_cascade_force_skip_steps arguments: run_id uuid, step_slug text, skip_reason text');
select is(pgflow_tests.conf_fn_result('_cascade_force_skip_steps'), 'integer', '_cascade_force_skip_steps returns integer');
select isnt_definer('pgflow', '_cascade_force_skip_steps', array['uuid', 'text', 'text']::text[], '_cascade_force_skip_steps is not SECURITY DEFINER');
select has_function('pgflow', 'maybe_complete_run', array['uuid']::text[], 'pgflow.maybe_complete_run(uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'maybe_complete_run'), 1, 'maybe_complete_run: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('maybe_complete_run'), 'run_id uuid', 'maybe_complete_run arguments: run_id uuid');
select is(pgflow_tests.conf_fn_result('maybe_complete_run'), 'void', 'maybe_complete_run returns void');
select isnt_definer('pgflow', 'maybe_complete_run', array['uuid']::text[], 'maybe_complete_run is not SECURITY DEFINER');
select has_function('pgflow', '_archive_task_message', array['uuid', 'text', 'integer']::text[], 'pgflow._archive_task_message(uuid, text, integer) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = '_archive_task_message'), 1, '_archive_task_message: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('_archive_task_message'), 'p_run_id uuid, p_step_slug text, p_task_index integer', '_archive_task_message arguments: p_run_id uuid, p_step_slug text, p_task_index integer');
select is(pgflow_tests.conf_fn_result('_archive_task_message'), 'void', '_archive_task_message returns void');
select isnt_definer('pgflow', '_archive_task_message', array['uuid', 'text', 'integer']::text[], '_archive_task_message is not SECURITY DEFINER');
select has_function('pgflow', 'start_tasks', array['text', 'bigint[]', 'uuid']::text[], 'pgflow.start_tasks(text, bigint[], uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'start_tasks'), 1, 'start_tasks: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('start_tasks'), 'flow_slug text, msg_ids bigint[], worker_id uuid', 'start_tasks arguments: flow_slug text, msg_ids bigint[], worker_id uuid');
select is(pgflow_tests.conf_fn_result('start_tasks'), 'SETOF pgflow.step_task_record', 'start_tasks returns SETOF pgflow.step_task_record');
select isnt_definer('pgflow', 'start_tasks', array['text', 'bigint[]', 'uuid']::text[], 'start_tasks is not SECURITY DEFINER');
select has_function('pgflow', 'complete_task', array['uuid', 'text', 'integer', 'jsonb']::text[], 'pgflow.complete_task(uuid, text, integer, jsonb) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'complete_task'), 1, 'complete_task: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('complete_task'), 'run_id uuid, step_slug text, task_index integer, output jsonb', 'complete_task arguments: run_id uuid, step_slug text, task_index integer, output jsonb');
select is(pgflow_tests.conf_fn_result('complete_task'), 'SETOF pgflow.step_tasks', 'complete_task returns SETOF pgflow.step_tasks');
select isnt_definer('pgflow', 'complete_task', array['uuid', 'text', 'integer', 'jsonb']::text[], 'complete_task is not SECURITY DEFINER');
select has_function('pgflow', 'fail_task', array['uuid', 'text', 'integer', 'text']::text[], 'pgflow.fail_task(uuid, text, integer, text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'fail_task'), 1, 'fail_task: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('fail_task'), 'run_id uuid, step_slug text, task_index integer, error_message text', 'fail_task arguments: run_id uuid, step_slug text, task_index integer, error_message text');
select is(pgflow_tests.conf_fn_result('fail_task'), 'SETOF pgflow.step_tasks', 'fail_task returns SETOF pgflow.step_tasks');
select isnt_definer('pgflow', 'fail_task', array['uuid', 'text', 'integer', 'text']::text[], 'fail_task is not SECURITY DEFINER');
select has_function('pgflow', 'set_vt_batch', array['text', 'bigint[]', 'integer[]']::text[], 'pgflow.set_vt_batch(text, bigint[], integer[]) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'set_vt_batch'), 1, 'set_vt_batch: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('set_vt_batch'), 'queue_name text, msg_ids bigint[], vt_offsets integer[]', 'set_vt_batch arguments: queue_name text, msg_ids bigint[], vt_offsets integer[]');
select is(pgflow_tests.conf_fn_result('set_vt_batch'), 'TABLE(msg_id bigint, read_ct integer, enqueued_at timestamp with time zone, vt timestamp with time zone, message jsonb, headers jsonb)', 'set_vt_batch returns TABLE(msg_id bigint, read_ct integer, enqueued_at timestamp with time zone, vt timestamp with time zone, message jsonb, headers jsonb)');
select isnt_definer('pgflow', 'set_vt_batch', array['text', 'bigint[]', 'integer[]']::text[], 'set_vt_batch is not SECURITY DEFINER');
select has_function('pgflow', 'poll_for_tasks', array['text', 'integer', 'integer', 'integer', 'integer']::text[], 'pgflow.poll_for_tasks(text, integer, integer, integer, integer) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'poll_for_tasks'), 1, 'poll_for_tasks: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('poll_for_tasks'), 'queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100', 'poll_for_tasks arguments: queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100');
select is(pgflow_tests.conf_fn_result('poll_for_tasks'), 'SETOF pgflow.step_task_record', 'poll_for_tasks returns SETOF pgflow.step_task_record');
select isnt_definer('pgflow', 'poll_for_tasks', array['text', 'integer', 'integer', 'integer', 'integer']::text[], 'poll_for_tasks is not SECURITY DEFINER');
select has_function('pgflow', '_get_flow_shape', array['text']::text[], 'pgflow._get_flow_shape(text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = '_get_flow_shape'), 1, '_get_flow_shape: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('_get_flow_shape'), 'p_flow_slug text', '_get_flow_shape arguments: p_flow_slug text');
select is(pgflow_tests.conf_fn_result('_get_flow_shape'), 'jsonb', '_get_flow_shape returns jsonb');
select isnt_definer('pgflow', '_get_flow_shape', array['text']::text[], '_get_flow_shape is not SECURITY DEFINER');
select volatility_is('pgflow', '_get_flow_shape', array['text']::text[], 'stable', '_get_flow_shape is STABLE');
select has_function('pgflow', '_compare_flow_shapes', array['jsonb', 'jsonb']::text[], 'pgflow._compare_flow_shapes(jsonb, jsonb) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = '_compare_flow_shapes'), 1, '_compare_flow_shapes: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('_compare_flow_shapes'), 'p_local jsonb, p_db jsonb', '_compare_flow_shapes arguments: p_local jsonb, p_db jsonb');
select is(pgflow_tests.conf_fn_result('_compare_flow_shapes'), 'text[]', '_compare_flow_shapes returns text[]');
select isnt_definer('pgflow', '_compare_flow_shapes', array['jsonb', 'jsonb']::text[], '_compare_flow_shapes is not SECURITY DEFINER');
select volatility_is('pgflow', '_compare_flow_shapes', array['jsonb', 'jsonb']::text[], 'stable', '_compare_flow_shapes is STABLE');
select has_function('pgflow', '_create_flow_from_shape', array['text', 'jsonb']::text[], 'pgflow._create_flow_from_shape(text, jsonb) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = '_create_flow_from_shape'), 1, '_create_flow_from_shape: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('_create_flow_from_shape'), 'p_flow_slug text, p_shape jsonb', '_create_flow_from_shape arguments: p_flow_slug text, p_shape jsonb');
select is(pgflow_tests.conf_fn_result('_create_flow_from_shape'), 'void', '_create_flow_from_shape returns void');
select isnt_definer('pgflow', '_create_flow_from_shape', array['text', 'jsonb']::text[], '_create_flow_from_shape is not SECURITY DEFINER');
select has_function('pgflow', 'ensure_flow_compiled', array['text', 'jsonb', 'boolean']::text[], 'pgflow.ensure_flow_compiled(text, jsonb, boolean) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'ensure_flow_compiled'), 1, 'ensure_flow_compiled: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('ensure_flow_compiled'), 'flow_slug text, shape jsonb, allow_data_loss boolean DEFAULT false', 'ensure_flow_compiled arguments: flow_slug text, shape jsonb, allow_data_loss boolean DEFAULT false');
select is(pgflow_tests.conf_fn_result('ensure_flow_compiled'), 'jsonb', 'ensure_flow_compiled returns jsonb');
select isnt_definer('pgflow', 'ensure_flow_compiled', array['text', 'jsonb', 'boolean']::text[], 'ensure_flow_compiled is not SECURITY DEFINER');
select has_function('pgflow', 'delete_flow_and_data', array['text']::text[], 'pgflow.delete_flow_and_data(text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'delete_flow_and_data'), 1, 'delete_flow_and_data: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('delete_flow_and_data'), 'p_flow_slug text', 'delete_flow_and_data arguments: p_flow_slug text');
select is(pgflow_tests.conf_fn_result('delete_flow_and_data'), 'void', 'delete_flow_and_data returns void');
select isnt_definer('pgflow', 'delete_flow_and_data', array['text']::text[], 'delete_flow_and_data is not SECURITY DEFINER');
select has_function('pgflow', 'track_worker_function', array['text']::text[], 'pgflow.track_worker_function(text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'track_worker_function'), 1, 'track_worker_function: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('track_worker_function'), 'function_name text', 'track_worker_function arguments: function_name text');
select is(pgflow_tests.conf_fn_result('track_worker_function'), 'void', 'track_worker_function returns void');
select isnt_definer('pgflow', 'track_worker_function', array['text']::text[], 'track_worker_function is not SECURITY DEFINER');
select has_function('pgflow', 'mark_worker_stopped', array['uuid']::text[], 'pgflow.mark_worker_stopped(uuid) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'mark_worker_stopped'), 1, 'mark_worker_stopped: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('mark_worker_stopped'), 'worker_id uuid', 'mark_worker_stopped arguments: worker_id uuid');
select is(pgflow_tests.conf_fn_result('mark_worker_stopped'), 'void', 'mark_worker_stopped returns void');
select isnt_definer('pgflow', 'mark_worker_stopped', array['uuid']::text[], 'mark_worker_stopped is not SECURITY DEFINER');
select has_function('pgflow', 'ensure_workers', array[]::text[], 'pgflow.ensure_workers() exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'ensure_workers'), 1, 'ensure_workers: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('ensure_workers'), '', 'ensure_workers arguments: (none)');
select is(pgflow_tests.conf_fn_result('ensure_workers'), 'TABLE(function_name text, invoked boolean, request_id bigint)', 'ensure_workers returns TABLE(function_name text, invoked boolean, request_id bigint)');
select isnt_definer('pgflow', 'ensure_workers', array[]::text[], 'ensure_workers is not SECURITY DEFINER');
select has_function('pgflow', 'cleanup_ensure_workers_logs', array['integer']::text[], 'pgflow.cleanup_ensure_workers_logs(integer) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'cleanup_ensure_workers_logs'), 1, 'cleanup_ensure_workers_logs: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('cleanup_ensure_workers_logs'), 'retention_hours integer DEFAULT 24', 'cleanup_ensure_workers_logs arguments: retention_hours integer DEFAULT 24');
select is(pgflow_tests.conf_fn_result('cleanup_ensure_workers_logs'), 'TABLE(cron_deleted bigint)', 'cleanup_ensure_workers_logs returns TABLE(cron_deleted bigint)');
select is_definer('pgflow', 'cleanup_ensure_workers_logs', array['integer']::text[], 'cleanup_ensure_workers_logs is SECURITY DEFINER');
select has_function('pgflow', 'setup_ensure_workers_cron', array['text']::text[], 'pgflow.setup_ensure_workers_cron(text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'setup_ensure_workers_cron'), 1, 'setup_ensure_workers_cron: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('setup_ensure_workers_cron'), 'cron_interval text DEFAULT ''1 second''::text', 'setup_ensure_workers_cron arguments: cron_interval text DEFAULT ''1 second''::text');
select is(pgflow_tests.conf_fn_result('setup_ensure_workers_cron'), 'text', 'setup_ensure_workers_cron returns text');
select is_definer('pgflow', 'setup_ensure_workers_cron', array['text']::text[], 'setup_ensure_workers_cron is SECURITY DEFINER');
select has_function('pgflow', 'requeue_stalled_tasks', array[]::text[], 'pgflow.requeue_stalled_tasks() exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'requeue_stalled_tasks'), 1, 'requeue_stalled_tasks: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('requeue_stalled_tasks'), '', 'requeue_stalled_tasks arguments: (none)');
select is(pgflow_tests.conf_fn_result('requeue_stalled_tasks'), 'integer', 'requeue_stalled_tasks returns integer');
select is_definer('pgflow', 'requeue_stalled_tasks', array[]::text[], 'requeue_stalled_tasks is SECURITY DEFINER');
select has_function('pgflow', 'setup_requeue_stalled_tasks_cron', array['text']::text[], 'pgflow.setup_requeue_stalled_tasks_cron(text) exists');
select is((select count(*)::int from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proname = 'setup_requeue_stalled_tasks_cron'), 1, 'setup_requeue_stalled_tasks_cron: exactly one function of that name (no overloads)');
select is(pgflow_tests.conf_fn_arguments('setup_requeue_stalled_tasks_cron'), 'cron_interval text DEFAULT ''15 seconds''::text', 'setup_requeue_stalled_tasks_cron arguments: cron_interval text DEFAULT ''15 seconds''::text');
select is(pgflow_tests.conf_fn_result('setup_requeue_stalled_tasks_cron'), 'text', 'setup_requeue_stalled_tasks_cron returns text');
select is_definer('pgflow', 'setup_requeue_stalled_tasks_cron', array['text']::text[], 'setup_requeue_stalled_tasks_cron is SECURITY DEFINER');
select is((select p.proparallel::text from pg_proc as p where p.oid = 'pgflow.calculate_retry_delay(numeric, integer)'::regprocedure), 's', 'calculate_retry_delay is PARALLEL SAFE');
select is((select p.proparallel::text from pg_proc as p where p.oid = 'pgflow.is_local()'::regprocedure), 's', 'is_local is PARALLEL SAFE');
select set_eq($$select p.proname::text from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.prosecdef$$, array['start_flow_with_states', 'get_run_with_states', 'cleanup_ensure_workers_logs', 'setup_ensure_workers_cron', 'requeue_stalled_tasks', 'setup_requeue_stalled_tasks_cron', 'setup_schedules_cron'], 'SECURITY DEFINER is exactly the six functions spec 1 lists, and setup_schedules_cron (issue 17, like the other setup_*_cron)');

-- pgflow.step_task_record (spec §2): attribute names, types and order
select has_type('pgflow', 'step_task_record', 'composite type pgflow.step_task_record exists');
select is(
    (select array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) order by a.attnum)
     from pg_attribute as a
     where a.attrelid = (select t.typrelid from pg_type as t
                         where t.typname = 'step_task_record' and t.typnamespace = 'pgflow'::regnamespace)
         and a.attnum > 0 and not a.attisdropped),
    array['flow_slug text', 'run_id uuid', 'step_slug text', 'input jsonb', 'msg_id bigint', 'task_index integer',
          'flow_input jsonb'],
    'step_task_record is (flow_slug text, run_id uuid, step_slug text, input jsonb, msg_id bigint, task_index int, flow_input jsonb)'
);

-- Reserved name (spec §8.7): users install their own prune_data_older_than
select is_empty(
    $$select p.oid from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace
      and p.proname = 'prune_data_older_than'$$,
    'pgflow.prune_data_older_than is not defined (any signature)'
);

-- Privileges (spec §1): revoke all on schema pgflow from public
select ok(
    not has_schema_privilege('public', 'pgflow', 'usage'),
    'PUBLIC has no USAGE on schema pgflow'
);
select ok(
    not has_schema_privilege('public', 'pgflow', 'create'),
    'PUBLIC has no CREATE on schema pgflow'
);
select ok(
    (select n.nspacl is not null and not exists (
         select 1 from aclexplode(n.nspacl) as acl where acl.grantee = 0
     )
     from pg_namespace as n where n.nspname = 'pgflow'),
    'schema pgflow ACL is explicit (the revoke ran) and has no PUBLIC entry'
);

-- The worker reads with pgmq.read_with_poll by named arguments (spec §5, §14.3)
select is(
    (select pg_get_function_arguments(p.oid) from pg_proc as p
     where p.pronamespace = 'pgmq'::regnamespace and p.proname = 'read_with_poll'
     order by p.pronargs desc limit 1),
    'queue_name text, vt integer, qty integer, max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100, conditional jsonb DEFAULT ''{}''::jsonb',
    'pgmq.read_with_poll(queue_name, vt, qty, max_poll_seconds, poll_interval_ms, conditional) as the worker calls it'
);

-- "revoke all on schema pgflow from public" is the only grant statement (spec §1, §0.18):
-- no table, sequence, function or type of the schema carries explicit privileges
select is_empty(
    $$select c.relname from pg_class as c where c.relnamespace = 'pgflow'::regnamespace and c.relacl is not null
      union all
      select p.proname from pg_proc as p where p.pronamespace = 'pgflow'::regnamespace and p.proacl is not null
      union all
      select t.typname from pg_type as t where t.typnamespace = 'pgflow'::regnamespace and t.typacl is not null$$,
    'no explicit grants on objects of schema pgflow'
);
select is_empty(
    $$select r.rolname from pg_roles as r
      where r.rolname in ('anon', 'authenticated', 'service_role')
        and (has_schema_privilege(r.oid, 'pgflow', 'usage') and not r.rolsuper)$$,
    'no Supabase role is granted schema pgflow'
);

select * from finish();
rollback;
