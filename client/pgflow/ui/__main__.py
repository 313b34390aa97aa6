"""`python -m pgflow.ui`: the dashboard without the `pgflow` command (same options as `pgflow ui`)."""

from __future__ import annotations

import argparse
import logging
import sys

from pgflow.errors import PgflowError
from pgflow.ui import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgflow.ui", description="The pgflow web dashboard.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except PgflowError as exc:
        print(f"pgflow ui: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
