"""The `pgflow` command line: a parser assembled from one module per command.

Exit codes: 0 success; 1 an error (or, for ``start --wait``, a run that failed or did not
finish in time); 2 bad usage; 130 interrupted. Results go to stdout, progress and errors to
stderr, so ``pgflow compile x:flow > file.sql`` and ``RUN=$(pgflow start ...)`` work.

Where things are:
    app.py          build_parser() and main(): the top-level parser, logging, error handling
    commands/       one module per command, each with add_parser(subparsers) and run(args);
                    commands/__init__.py lists them in help order (adding a command: one module
                    and one line there)
    options.py      shared options and validators (--dsn, MODULE:FLOW, bounded numbers), help layout
    runtime.py      exit codes, the database URL, connecting, parsing --input and run ids
    flows.py        load_flow(): import the Flow a MODULE:FLOW reference names
    output.py       text tables, durations, timestamps, JSON
    signals.py      run a worker until SIGTERM/SIGINT (first drains, second aborts)
"""

from __future__ import annotations

from pgflow.cli.app import build_parser, main
from pgflow.cli.flows import load_flow
from pgflow.cli.runtime import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "load_flow", "main"]
