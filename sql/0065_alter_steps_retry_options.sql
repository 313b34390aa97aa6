-- Retry delays (beside the contract), opt-in per step, set by pgflow.set_retry_policy: a step's
-- opt_retry_jitter / opt_max_retry_delay override its flow's (same meaning as in
-- 0064_alter_flows_retry_options.sql); NULL: the flow's.
alter table pgflow.steps add column opt_retry_jitter numeric;
alter table pgflow.steps add column opt_max_retry_delay int;
alter table pgflow.steps add constraint opt_retry_jitter_is_a_fraction check (
    opt_retry_jitter is null or (opt_retry_jitter >= 0 and opt_retry_jitter <= 1)
);
alter table pgflow.steps add constraint opt_max_retry_delay_is_nonnegative check (
    opt_max_retry_delay is null or opt_max_retry_delay >= 0
);
