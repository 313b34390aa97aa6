begin;
select plan(4);

create temporary table ids as
select i, pgflow._time_ordered_uuid() as id, clock_timestamp() as at
from generate_series(1, 200) as i;

select is(
    (select count(*)::int from ids where substr(id::text, 15, 1) = '7'),
    200, 'version nibble 7'
);
select is(
    (select count(*)::int from ids where substr(id::text, 20, 1) in ('8', '9', 'a', 'b')),
    200, 'RFC variant (10xx)'
);
select ok(
    (select bool_and(abs(
        ('x' || lpad(replace(substr(id::text, 1, 13), '-', ''), 16, '0'))::bit(64)::bigint
        - (extract(epoch from at) * 1000)::bigint
    ) <= 1) from ids),
    'the first 48 bits are the time of the call in milliseconds'
);
-- two ids 2 ms apart (a busy wait on the clock, no sleep)
create temporary table pair (n int, id uuid);
insert into pair values (1, pgflow._time_ordered_uuid());
do $$
declare
    v_t0 timestamptz := clock_timestamp();
begin
    while clock_timestamp() < v_t0 + interval '2 ms' loop
    end loop;
end;
$$;
insert into pair values (2, pgflow._time_ordered_uuid());
select ok(
    (select a.id < b.id from pair as a, pair as b where a.n = 1 and b.n = 2),
    'an id taken 2 ms later sorts after'
);

select * from finish();
rollback;
