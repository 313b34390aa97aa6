"""Catalog snapshots of the pgflow schema, to prove two databases define the same objects."""

from __future__ import annotations

from typing import Any

import psycopg

QUERIES: dict[str, str] = {
    "tables": """
        select c.relname, c.relkind::text
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'pgflow' and c.relkind in ('r', 'v', 'm', 'p', 'S')
        order by 1""",
    "columns": """
        select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = 'pgflow' and a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'v', 'm', 'p', 'c')
        order by 1, 2""",
    "constraints": """
        select cl.relname, co.conname, co.contype::text, pg_get_constraintdef(co.oid)
        from pg_constraint co
        join pg_class cl on cl.oid = co.conrelid
        join pg_namespace n on n.oid = cl.relnamespace
        where n.nspname = 'pgflow'
        order by 1, 2""",
    "indexes": """
        select tablename, indexname, indexdef from pg_indexes where schemaname = 'pgflow' order by 1, 2""",
    "functions": """
        select p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid),
               l.lanname, p.provolatile::text, p.prosecdef, p.proparallel::text,
               coalesce(array_to_string(p.proconfig, ','), ''), p.prosrc,
               pg_get_function_arguments(p.oid)
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        join pg_language l on l.oid = p.prolang
        where n.nspname = 'pgflow'
        order by 1, 2""",
    "types": """
        select t.typname, t.typtype::text
        from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where n.nspname = 'pgflow' and t.typtype in ('c', 'e', 'd') and
              (t.typtype <> 'c' or (select relkind from pg_class where oid = t.typrelid) = 'c')
        order by 1""",
    "triggers": """
        select c.relname, t.tgname, pg_get_triggerdef(t.oid)
        from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'pgflow' and not t.tgisinternal
        order by 1, 2""",
    "comments": """
        select c.relname, coalesce(a.attname, ''), d.description
        from pg_description d
        join pg_class c on c.oid = d.objoid and d.classoid = 'pg_class'::regclass
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attribute a on a.attrelid = c.oid and a.attnum = d.objsubid and d.objsubid > 0
        where n.nspname = 'pgflow'
        order by 1, 2""",
    "schema_acl": """select coalesce(nspacl::text, '') from pg_namespace where nspname = 'pgflow'""",
}


def snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {k: [tuple(r) for r in conn.execute(q).fetchall()] for k, q in QUERIES.items()}


def _short(row: tuple[Any, ...], width: int = 160) -> str:
    """A row for a failure message: long fields (function bodies) cut to their start."""
    return "(" + ", ".join(repr(v) if len(repr(v)) <= width else repr(v)[:width] + "...'" for v in row) + ")"


def diff(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    out = []
    for key in QUERIES:
        sa, sb = set(a[key]), set(b[key])
        out += [f"{key}: only in first: {_short(r)}" for r in sorted(sa - sb, key=repr)]
        out += [f"{key}: only in second: {_short(r)}" for r in sorted(sb - sa, key=repr)]
    return out
