-- Retry delays (beside the contract), opt-in per flow, set by pgflow.set_retry_policy:
--   * opt_retry_jitter: a fraction in [0, 1]; a retry's delay d becomes a random value in
--     [d * (1 - jitter), d] (1 = "full jitter"). NULL: no jitter.
--   * opt_max_retry_delay: seconds; the delay is at most this. NULL: no cap.
-- Both NULL (the default): the contract's floor(base_delay * 2^attempts_count), unchanged.
alter table pgflow.flows add column opt_retry_jitter numeric;
alter table pgflow.flows add column opt_max_retry_delay int;
alter table pgflow.flows add constraint opt_retry_jitter_is_a_fraction check (
    opt_retry_jitter is null or (opt_retry_jitter >= 0 and opt_retry_jitter <= 1)
);
alter table pgflow.flows add constraint opt_max_retry_delay_is_nonnegative check (
    opt_max_retry_delay is null or opt_max_retry_delay >= 0
);
