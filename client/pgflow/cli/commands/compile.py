"""``pgflow compile``: the SQL that creates a flow, to stdout, a file, or a new migration."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from pgflow.cli.flows import load_flow
from pgflow.cli.options import FLOW_SPEC_HELP, Subparsers, add_command
from pgflow.cli.runtime import EXIT_OK, err


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "compile",
        help="print the SQL that creates a flow, or write it as a migration",
        description="Compile a Python flow definition to the pgflow.create_flow / pgflow.add_step statements "
                    "that create it (the same SQL as pgflow's `npx pgflow compile`), then, for each schedule of "
                    "the flow (Flow(..., schedule=...)), a statement that creates the schedule or brings it to "
                    "the definition (a paused one stays paused). Prints to stdout by default. No database needed.",
        example_lines="""
            pgflow compile myapp.flows:greet
            pgflow compile myapp/flows.py:greet --output greet.sql
            pgflow compile myapp.flows:greet --migrations-dir supabase/migrations
              # -> supabase/migrations/20260314120000_create_greet_flow.sql
            """,
    )
    p.add_argument("flow", metavar="MODULE:FLOW", help=FLOW_SPEC_HELP)
    dest = p.add_mutually_exclusive_group()
    dest.add_argument("-o", "--output", metavar="FILE", help="write the SQL to FILE instead of stdout")
    dest.add_argument("--migrations-dir", metavar="DIR",
                      help="write a migration <yyyymmddhhmmss>_create_<slug>_flow.sql into DIR and print its path")
    return p


def migration_filename(flow_slug: str, now: dt.datetime | None = None) -> str:
    """``<UTC yyyymmddhhmmss>_create_<slug>_flow.sql``, the name pgflow's CLI gives it."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%d%H%M%S}_create_{flow_slug}_flow.sql"


def run(args: argparse.Namespace) -> int:
    flow = load_flow(args.flow)
    sql = flow.compile_sql()
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(sql, encoding="utf-8")
        err(f"wrote {out} ({len(flow.steps)} step(s) of flow {flow.slug!r})")
        return EXIT_OK
    if args.migrations_dir:
        return _write_migration(Path(args.migrations_dir), flow.slug, sql)
    sys.stdout.write(sql)
    return EXIT_OK


def _write_migration(directory: Path, slug: str, sql: str) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(directory.glob(f"[0-9]*_create_{slug}_flow.sql"))
    same = [p for p in existing if p.read_text(encoding="utf-8") == sql]
    if same:
        err(f"{same[-1]} already creates flow {slug!r} as defined: nothing to do")
        return EXIT_OK
    now = dt.datetime.now(dt.UTC)
    path = directory / migration_filename(slug, now)
    while path.exists():  # two compiles within one second: keep versions unique
        now += dt.timedelta(seconds=1)
        path = directory / migration_filename(slug, now)
    path.write_text(sql, encoding="utf-8")
    print(path)
    if existing:
        err(
            f"warning: {existing[-1].name} already creates flow {slug!r} with a different definition; "
            "create_flow/add_step never change an existing flow, so applying the new migration to a database "
            "that has the old one changes nothing. Delete the flow first "
            f"(select pgflow.delete_flow_and_data('{slug}')) or give the new version a new slug."
        )
    return EXIT_OK
