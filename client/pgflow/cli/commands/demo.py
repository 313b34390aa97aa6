"""``pgflow demo``: the example flow end to end in a throwaway PostgreSQL."""

from __future__ import annotations

import argparse

from pgflow.cli.options import Subparsers, add_command, positive_float, positive_int


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "demo",
        help="run an example flow end to end in a throwaway Postgres",
        description="Start a throwaway PostgreSQL server, migrate it, compile the example flow "
                    "pgflow.examples.article_digest, run a worker in this process, start a run, print each "
                    "step as it progresses and the final output, then stop everything. Needs the PostgreSQL "
                    "server binaries (initdb, pg_ctl); no database of your own.",
        example_lines="""
            pgflow demo
            pgflow demo --topic python
            """,
    )
    p.add_argument("--topic", default="postgres", help="which articles to digest: postgres or python "
                                                        "(default postgres)")
    p.add_argument("--limit", type=positive_int, default=4, help="at most N articles (default 4)")
    p.add_argument("--timeout", type=positive_float, default=60.0, metavar="S",
                   help="give up if the run has not finished after S seconds (default 60)")
    return p


def run(args: argparse.Namespace) -> int:
    from pgflow import demo

    return demo.main(topic=args.topic, limit=args.limit, timeout=args.timeout)
