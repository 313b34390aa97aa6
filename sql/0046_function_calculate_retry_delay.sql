-- pgflow.calculate_retry_delay(base_delay, attempts_count): seconds before a failed task is
-- retried, floor(base_delay * 2^attempts_count); attempts_count already counts the failed attempt.
-- Called by fail_task. Raises nothing.
create or replace function pgflow.calculate_retry_delay(base_delay numeric, attempts_count int)
returns int
language sql
immutable
parallel safe
set search_path = ''
as $$
    select floor(base_delay * power(2, attempts_count))::int;
$$;
