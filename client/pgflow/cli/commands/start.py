"""``pgflow start``: start a run and print its id; with ``--wait``, wait for it and report."""

from __future__ import annotations

import argparse
import json

from pgflow.cli.options import Subparsers, add_command, add_dsn, positive_float
from pgflow.cli.runtime import EXIT_ERROR, EXIT_OK, connect, dsn, err, parse_json, parse_uuid
from pgflow.errors import PgflowError


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = add_command(
        subparsers, "start",
        help="start a run of a flow; print its run id",
        description="Start a run of a compiled flow and print its run id. With --wait, wait for the run to "
                    "finish, printing each step as it finishes (on stderr), then print its status and output: "
                    "exit 0 if it completed, 1 if it failed or did not finish within --timeout.",
        example_lines="""
            pgflow start greet --input '{"name": "Ada"}'
            RUN=$(pgflow start digest --input @input.json)
            pgflow start greet --input '{"name": "Ada"}' --wait --timeout 60
            pgflow start greet --input '{"name": "Ada"}' --idempotency-key order-42
            """,
    )
    p.add_argument("flow", metavar="FLOW", help="the flow slug")
    p.add_argument("-i", "--input", default="{}", metavar="JSON",
                   help="the run input as JSON, @file to read a file, - for stdin (default {})")
    p.add_argument("--run-id", metavar="UUID", help="use this run id instead of a random one")
    p.add_argument("--idempotency-key", metavar="KEY",
                   help="start at most one run per flow and KEY: a later call with the same key prints the run "
                        "the first one started (the same key with another input is an error)")
    p.add_argument("--wait", action="store_true", help="wait for the run to finish; print status and output")
    p.add_argument("--timeout", type=positive_float, default=300.0, metavar="S",
                   help="with --wait: give up after S seconds (default 300)")
    add_dsn(p)
    return p


def run(args: argparse.Namespace) -> int:
    from pgflow import queries
    from pgflow.cli.progress import watch_run
    from pgflow.client import PgflowSqlClient
    from pgflow.errors import RunTimeout

    payload = parse_json(args.input, "--input")
    run_id = parse_uuid(args.run_id) if args.run_id else None
    if run_id is not None and args.idempotency_key is not None:
        raise PgflowError("--run-id and --idempotency-key exclude each other (the key's first run chooses the id)")
    with connect(dsn(args)) as conn:
        client = PgflowSqlClient(conn)
        if args.wait:
            conn.execute(queries.LISTEN_EVENTS)  # before the run starts: no event of it is missed
        if args.idempotency_key is not None:
            started = client.start_flow_idempotent(args.flow, payload, args.idempotency_key)
        else:
            started = client.start_flow(args.flow, payload, run_id)
        print(started.run_id, flush=True)
        if not args.wait:
            return EXIT_OK
        err(f"waiting up to {args.timeout:g}s for run {started.run_id} to finish...")
        try:
            state = watch_run(conn, client, started.run_id, args.timeout, err)  # each step on stderr
        except RunTimeout:
            err(f"timeout: run {started.run_id} still running after {args.timeout:g}s "
                f"(see `pgflow status {started.run_id}`)")
            return EXIT_ERROR
    print(f"status: {state.run.status}")
    if state.run.status == "completed":
        print("output: " + json.dumps(state.run.output, indent=2, ensure_ascii=False))
        return EXIT_OK
    for s in state.steps:
        if s.status == "failed":
            print(f"failed step {s.step_slug}: {s.error_message}")
    return EXIT_ERROR
