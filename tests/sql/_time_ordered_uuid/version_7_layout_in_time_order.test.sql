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
select ok(
    (select bool_and(a.id < b.id) from ids as a inner join ids as b on b.i = a.i + 1
     where b.at >= a.at + interval '2 ms'),
    'ids taken at least 2 ms apart sort in time order'
);

select * from finish();
rollback;
