"""``pgflow prune --older-than 7d``: delete finished runs by hand (``pgflow.prune_runs``), in
short transactions until none is left; progress on stderr, the count on stdout."""

from __future__ import annotations

import argparse
from datetime import timedelta

from pgflow.cli.options import Subparsers, add_command, add_dsn, positive_int
from pgflow.cli.runtime import EXIT_OK, connect, dsn, err
from pgflow.client import DEFAULT_PRUNE_BATCH
from pgflow.durations import format_duration, parse_duration


def duration_arg(text: str) -> timedelta:
    """An argparse ``type=`` for durations (30m, 12h, 7d); a usage error names what was wrong."""
    try:
        return parse_duration(text, "a duration")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "prune",
        help="delete finished runs older than a duration",
        description="Delete finished runs (completed, failed, cancelled) that finished more than --older-than ago, "
                    "with their step states, tasks, archived queue messages, idempotency keys and retry links. "
                    "Started runs are never touched. Each transaction deletes at most --max-runs runs, so it can "
                    "run beside busy workers; it repeats until nothing is left and prints how many runs it "
                    "deleted. Workers do this themselves with `pgflow worker --retention 7d`.",
        example_lines="""
            pgflow prune --older-than 7d
            pgflow prune --older-than 12h --max-runs 200
            """,
    )
    p.add_argument("--older-than", required=True, type=duration_arg, metavar="DURATION",
                   help="how long finished runs are kept: a number and a unit s, m, h, d or w (30m, 12h, 7d)")
    p.add_argument("--max-runs", type=positive_int, default=DEFAULT_PRUNE_BATCH, metavar="N",
                   help=f"runs deleted per transaction (default {DEFAULT_PRUNE_BATCH})")
    add_dsn(p)
    return p


def run(args: argparse.Namespace) -> int:
    from pgflow.client import PgflowSqlClient

    total = 0
    with connect(dsn(args)) as conn:
        client = PgflowSqlClient(conn)
        while True:
            deleted = client.prune_runs(args.older_than, args.max_runs)
            if deleted == 0:
                break
            total += deleted
            err(f"pgflow prune: {total} run(s) deleted so far")
    err(f"pgflow prune: done, {total} finished run(s) older than {format_duration(args.older_than)} deleted")
    print(total)
    return EXIT_OK
